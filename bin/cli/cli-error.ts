/** An error the CLI reports as one line (`skull-mem: <message>`) with a chosen exit code:
 * 1 when the process or segment is not usable, 2 for usage errors. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Parses a pid argument; anything but a positive decimal integer is a usage error. */
export function parsePid(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text) || Number(text) > 4194304) {
    throw new CliError(`"${text}" is not a process id (a positive integer, at most 4194304)`, 2);
  }
  return Number(text);
}

/** Parses a positive number of seconds (fractions allowed). */
export function parseSeconds(text: string, option: string): number {
  const value = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !(value > 0) || value > 86400) {
    throw new CliError(`${option} needs a number of seconds above 0 (got "${text}")`, 2);
  }
  return value;
}
