/** Reading the command line before any parser runs: which command it names, behind the global `--config FILE`. */

/** The arguments after a leading `--config FILE`, which every command accepts before its name. */
export const afterConfigOption = (argv: readonly string[]): readonly string[] =>
  argv[0] === '--config' ? argv.slice(2) : argv;
