import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/stack/index.js';

// The CLI as an operator meets it: one clear line on stderr, an exit code, and no stack trace.
const CLI = join(PROJECT_ROOT, 'bin', 'understudy');

function run(args: string[], configYaml?: string): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  if (configYaml !== undefined) {
    const file = join(mkdtempSync(join(tmpdir(), 'understudy-cli-')), 'understudy.yaml');
    writeFileSync(file, configYaml);
    env.UNDERSTUDY_CONFIG = file;
  }
  const result = spawnSync(CLI, args, { env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const noStackTrace = (text: string): void => expect(text).not.toMatch(/^\s+at /m);

describe('understudy CLI', () => {
  it('names every invalid config field and exits 1', () => {
    const { status, stderr } = run(
      ['status'],
      'policy:\n  thresholdPercent: 150\ninflux:\n  version: 1\n  password: x\n',
    );
    expect(status).toBe(1);
    expect(stderr).toContain('policy.thresholdPercent: must be at most 100');
    expect(stderr).toContain('influx.password: secrets are not read from the config file');
    noStackTrace(stderr);
  });

  it('says which service it cannot reach and exits 2', () => {
    const { status, stderr } = run(['status'], 'temporal:\n  address: 127.0.0.1:1\n');
    expect(status).toBe(2);
    expect(stderr).toMatch(/^understudy: cannot reach Temporal at 127\.0\.0\.1:1: /);
    noStackTrace(stderr);
  });

  it('refuses to start a stack whose binaries are missing, and starts nothing', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'understudy-empty-state-'));
    const yaml = `embedded:\n  stateDir: ${stateDir}\n  temporalPort: 27233\n  temporalUiPort: 28233\n  influxPort: 28086\n  simulatorPort: 28090\n`;
    const { status, stderr } = run(['stack', 'up'], yaml);
    expect(status).toBe(2);
    expect(stderr).toContain(`not installed: the Temporal CLI (${join(stateDir, 'bin', 'temporal')})`);
    expect(stderr).toContain('run `npm run setup`');
    expect(readdirSync(stateDir)).toEqual([]);
    noStackTrace(stderr);
  });

  it('rejects an unknown command or option with a pointer to --help', () => {
    const unknown = run(['frobnicate']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('unknown command "frobnicate"; run `understudy --help` for the list');
    const badOption = run(['status', '--thresold', '3']);
    expect(badOption.status).toBe(1);
    expect(badOption.stderr).toMatch(/Unknown option '--thresold'/);
    noStackTrace(unknown.stderr + badOption.stderr);
  });

  it('names a --provider it cannot apply, and starts nothing', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'understudy-empty-state-'));
    const yaml = `embedded:\n  stateDir: ${stateDir}\n`;
    const unknown = run(['up', '--provider', 'openstack'], yaml);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('--provider must be simulator or kubernetes, not "openstack"');
    const elsewhere = run(['status', '--provider', 'kubernetes'], yaml);
    expect(elsewhere.status).toBe(1);
    expect(elsewhere.stderr).toContain('--provider applies to `up` and `stack up` only');
    const otherCluster = run(
      ['up', '--demo', '--provider', 'kubernetes'],
      `${yaml}provider:\n  kubeconfig: /etc/kubernetes/admin.conf\n`,
    );
    expect(otherCluster.status).toBe(1);
    expect(otherCluster.stderr).toContain('the Kubernetes demo creates its nodes on the embedded bed only');
    expect(otherCluster.stderr).toContain('(/etc/kubernetes/admin.conf)');
    expect(readdirSync(stateDir)).toEqual([]);
    noStackTrace(unknown.stderr + elsewhere.stderr + otherCluster.stderr);
  });

  it("prints each command's usage for --help and -h, and exits 0", () => {
    const commands = ['up', 'down', 'status', 'pause', 'resume', 'swap', 'failover', 'policy', 'stack'];
    const ownParsers = ['train', 'forecast', 'backtest', 'rollout', 'maintenance'];
    for (const [i, command] of [...commands, ...ownParsers].entries()) {
      const { status, stdout, stderr } = run([command, i % 2 === 0 ? '--help' : '-h']);
      expect(stderr, command).toBe('');
      expect(status, command).toBe(0);
      expect(stdout, command).toMatch(new RegExp(`^usage: understudy \\[--config FILE\\] ${command} `));
      expect(stdout, command).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
      expect(stdout, command).not.toContain('commands:');
    }
    // A --help after `--` is an argument, not a request for help.
    expect(run(['backtest', '--', '--help']).status).toBe(1);
    expect(run(['--help']).stdout).toContain('commands:');
  });

  it('reports the running stack', () => {
    const { status, stdout } = run(['status']);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^temporal: 127\.0\.0\.1:17233 answers \(server \d+\.\d+\.\d+\)$/m);
    expect(stdout).toMatch(/^influxdb: http:\/\/127\.0\.0\.1:18086 answers \(version 1\./m);
  });
});
