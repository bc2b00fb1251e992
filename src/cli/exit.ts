/** How every `understudy` command ends on an error: one line for the operator, an exit code, no stack trace. */

/** Node's own parseArgs refusals (unknown option, missing value) are the operator's to fix, like any usage error. */
export const isArgumentError = (error: unknown): boolean =>
  (error as { code?: unknown } | undefined)?.code?.toString().startsWith('ERR_PARSE_ARGS') === true;

/**
 * Prints `understudy: <message>` and exits with `code`. The stack trace follows only for an unexpected error
 * (`expected` false: a bug worth reporting) or when UNDERSTUDY_DEBUG=1.
 */
export function exitWithError(error: unknown, options: { expected: boolean; code: number; message?: string }): never {
  process.stderr.write(`understudy: ${options.message ?? (error as Error).message}\n`);
  if (!options.expected || process.env.UNDERSTUDY_DEBUG === '1') process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(options.code);
}
