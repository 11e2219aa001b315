/**
 * What the CLIs print themselves, made safe for a terminal by the one escaping skull-mem has
 * (crates/inspect/src/render/escape.rs, through the binding): JSON with the characters a
 * terminal could act on written as `\u` escapes, so it parses to exactly the same values, and
 * their own messages, which quote file names, paths and snapshot contents.
 */
import { nativeBinding } from '../../src/native';

/** `value` as JSON text (`indent` as JSON.stringify takes it), and a newline. */
export function jsonLine(value: unknown, indent?: number): string {
  return `${nativeBinding().escapeJson(JSON.stringify(value, null, indent))}\n`;
}

/** `text` with control and format characters shown visibly (`\e`, `\u{202e}`, ...). */
export function terminalText(text: string): string {
  return nativeBinding().escapeText(text);
}
