/**
 * CLI options backed by skull-mem's options table (crates/core/src/options): their values are
 * checked by the binding, refused with the message start-up gives, and `--help` shows their
 * default and bounds from the table. The addon is loaded only when an option is parsed or help
 * is shown, so a broken installation still fails in one line.
 */
import { Help, Option, type Command } from 'commander';
import type { SettingInfo } from '../../src/native-binding';
import { nativeBinding } from '../../src/native';
import { CliError } from './cli-error';

/** The table's entry `name`. */
function setting(name: string): SettingInfo {
  const found = nativeBinding()
    .settings()
    .find((entry) => entry.name === name);
  if (found === undefined) throw new Error(`skull-mem: the options table has no setting "${name}"`);
  return found;
}

/** The environment variable of setting `name` (`SKULL_MEM_CACHE` for `cache`). */
export function settingEnv(name: string): string {
  const env = setting(name).env;
  if (env === undefined || env === null) throw new Error(`skull-mem: setting "${name}" has no environment variable`);
  return env;
}

/** The largest value of the number setting or limit `name`. */
export function settingMax(name: string): number {
  const max = setting(name).max;
  if (max === undefined || max === null) throw new Error(`skull-mem: setting "${name}" has no bounds`);
  return max;
}

/** Runs a check of the binding; a value it refuses (`BAD_SETTING`) is a usage error. */
function checked<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof Error && (err as { code?: unknown }).code === 'BAD_SETTING') throw new CliError(err.message, 2);
    throw err;
  }
}

/** `text` as a value of the number setting `name`, or a usage error with the table's message. */
export function checkNumber(name: string, text: string): number {
  return checked(() => nativeBinding().checkSetting(name, text));
}

/** `text` as a `SKULL_MEM_TRACE` value, checked as start-up would; returned as given. */
export function checkTrace(text: string): string {
  checked(() => nativeBinding().parseTraceSetting(text));
  return text;
}

/** Which option shows which setting's default and bounds in `--help`. */
const settingOf = new WeakMap<Option, string>();

/** Option `flags` backed by setting `name`: `parse` checks its value, help adds the table's facts. */
export function settingOption(flags: string, description: string, name: string, parse?: (text: string) => unknown): Option {
  const option = new Option(flags, description);
  if (parse !== undefined) option.argParser(parse);
  settingOf.set(option, name);
  return option;
}

/** Makes `command`'s help append, to each option made by `settingOption`, its bounds, default
 * and variable from the table: `(0 to 1048576 bytes, default 32768, sets SKULL_MEM_CACHE)`. */
export function withSettingsHelp(command: Command): Command {
  return command.configureHelp({
    optionDescription(this: Help, option: Option): string {
      const base = Help.prototype.optionDescription.call(this, option);
      const name = settingOf.get(option);
      if (name === undefined) return base;
      const { bounds, defaultValue, env } = setting(name);
      const facts = [bounds];
      if (defaultValue !== undefined && defaultValue !== null) facts.push(`default ${defaultValue}`);
      if (env !== undefined && env !== null) facts.push(`sets ${env}`);
      return `${base} (${facts.join(', ')})`;
    },
  });
}
