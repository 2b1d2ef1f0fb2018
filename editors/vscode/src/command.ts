// How the extension turns its settings into a way to reach the server. Nothing here imports
// 'vscode', so the tests can call it directly under plain Node.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'critical', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The `mnemo.*` settings that decide how the server is started. */
export interface MnemoSettings {
  /** `mnemo.path`: the executable. */
  path: string;
  /** `mnemo.arguments`: extra arguments, placed after `serve`. */
  arguments: string[];
  /** `mnemo.logLevel`: passed as `--log-level`. */
  logLevel: LogLevel;
  /** `mnemo.server.tcp`: "HOST:PORT" of a running `mnemo serve --listen`; empty to spawn. */
  tcp: string;
}

/** Reads the settings through `get` (a WorkspaceConfiguration's), falling back to the
 * defaults on values of the wrong type: a hand-edited settings.json is not validated. */
export function readSettings(get: (key: string) => unknown): MnemoSettings {
  const str = (value: unknown, fallback: string) =>
    typeof value === 'string' && value.trim() !== '' ? value.trim() : fallback;
  const args = get('arguments');
  const level = get('logLevel');
  return {
    path: str(get('path'), 'mnemo'),
    arguments: Array.isArray(args) ? args.filter((a): a is string => typeof a === 'string') : [],
    logLevel: LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'info',
    tcp: str(get('server.tcp'), ''),
  };
}

/** The completion settings (`mnemo.model`, `mnemo.memory.*`, `mnemo.prompt.*`, `mnemo.names.*`,
 * `mnemo.inline.debounceMs`, `mnemo.inline.identifierBoost`) as the server's `initializationOptions`, in the shape of the
 * repository's `.mnemo/config.json`. Only the ones the user set (not null) are sent, so
 * that the repository's file decides the rest; the server reports values it rejects. */
export function initializationOptions(get: (key: string) => unknown): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const model = get('model');
  if (typeof model === 'string' && model.trim() !== '') options.model = model.trim();
  const groups: Record<string, string[]> = {
    memory: ['window', 'topK', 'budgetMB', 'nextTokenWeight'],
    prompt: ['prefixTokens', 'suffixTokens', 'declarationTokens'],
    names: ['hold', 'priorWeight', 'memberPriorWeight'],
    inline: ['debounceMs', 'identifierBoost'],
  };
  for (const [group, keys] of Object.entries(groups)) {
    for (const key of keys) {
      const value = get(`${group}.${key}`);
      if (value === null || value === undefined) continue;
      const values = (options[group] ?? {}) as Record<string, unknown>;
      values[key] = value;
      options[group] = values;
    }
  }
  return options;
}

/** The command line that starts the server over stdio. `--log-level` is an option of
 * `mnemo` itself and the server rejects it after the subcommand, so it goes before `serve`;
 * the user's arguments go after it, where `serve`'s own options (`--workers`, ...) belong. */
export function serverCommand(
  settings: Pick<MnemoSettings, 'path' | 'arguments' | 'logLevel'>,
  executable: string = settings.path,
): { command: string; args: string[] } {
  return {
    command: executable,
    args: ['--log-level', settings.logLevel, 'serve', ...settings.arguments],
  };
}

/** Parses `mnemo.server.tcp` the way `mnemo serve --listen` parses its address: HOST:PORT,
 * [IPV6]:PORT, or PORT alone for 127.0.0.1. Throws an Error that says what is wrong. */
export function parseTcpAddress(text: string): { host: string; port: number } {
  let host = '127.0.0.1';
  let port = text.trim();
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(port);
  if (bracketed) {
    host = bracketed[1];
    port = bracketed[2];
  } else if (port.startsWith('[')) {
    throw new Error(`"${text}": expected [IPV6]:PORT`);
  } else if (port.includes(':')) {
    const colon = port.lastIndexOf(':');
    if (colon > 0) host = port.slice(0, colon);
    port = port.slice(colon + 1);
  }
  const number = Number(port);
  if (!/^[0-9]{1,5}$/.test(port) || number < 1 || number > 65535) {
    throw new Error(`"${text}": invalid port "${port}" (expected HOST:PORT)`);
  }
  return { host, port: number };
}

export interface ResolveContext {
  /** The first workspace folder: `${workspaceFolder}` and relative paths are taken from it. */
  workspaceFolder?: string;
  /** Defaults to process.env.PATH. */
  PATH?: string;
  platform?: NodeJS.Platform;
}

/** Finds the file that `command` names, as the shell would, so that a missing executable is
 * reported with a useful message instead of the client's generic "couldn't start" error.
 * Returns undefined when there is none. */
export function resolveExecutable(command: string, context: ResolveContext = {}): string | undefined {
  const platform = context.platform ?? process.platform;
  let expanded = command;
  if (expanded.includes('${workspaceFolder}')) {
    if (context.workspaceFolder === undefined) return undefined;
    expanded = expanded.split('${workspaceFolder}').join(context.workspaceFolder);
  }
  if (expanded === '~' || expanded.startsWith('~/')) expanded = path.join(os.homedir(), expanded.slice(1));

  const candidates: string[] = [];
  const hasSeparator = expanded.includes('/') || (platform === 'win32' && expanded.includes('\\'));
  if (path.isAbsolute(expanded)) {
    candidates.push(expanded);
  } else if (hasSeparator) {
    candidates.push(path.resolve(context.workspaceFolder ?? process.cwd(), expanded));
  } else {
    const dirs = (context.PATH ?? process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
    for (const dir of dirs) candidates.push(path.join(dir, expanded));
  }
  // Windows finds "mnemo" as "mnemo.exe"; elsewhere the name is exact.
  const extensions = platform === 'win32' ? ['', ...(process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  for (const candidate of candidates) {
    for (const extension of extensions) {
      if (isExecutableFile(candidate + extension, platform)) return candidate + extension;
    }
  }
  return undefined;
}

function isExecutableFile(file: string, platform: NodeJS.Platform): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    if (platform !== 'win32') fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
