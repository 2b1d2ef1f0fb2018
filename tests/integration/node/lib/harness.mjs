// Shared helpers of the Node.js end-to-end tests and the round-trip benchmark: start
// `mnemo serve` (stdio or TCP), connect a vscode-languageserver-protocol client to it,
// watch its log, and end the session the LSP way.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import * as lsp from 'vscode-languageserver-protocol/node.js';

export { lsp };

/** Deadlock guard for every wait in these tests; never a timing assertion. */
export const GUARD_MS = 15000;

export function mnemoBin() {
  const bin = process.env.MNEMO_BIN;
  if (!bin) {
    throw new Error('MNEMO_BIN is not set: point it at the built mnemo binary ' +
                    '(ctest sets it; by hand: MNEMO_BIN=build/mnemo node --test ...)');
  }
  if (!fs.existsSync(bin)) throw new Error(`MNEMO_BIN=${bin} does not exist; build the mnemo target`);
  return bin;
}

export function fileUri(p) {
  return pathToFileURL(p).href;
}

/** A temporary directory holding `files` ({relative path: text}); removed by cleanup(). */
export function makeWorkspace(files) {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mnemo-node-ws-')));
  for (const [rel, text] of Object.entries(files)) {
    const full = path.join(dir, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, text);
  }
  return { dir, uri: fileUri(dir), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function withTimeout(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Accumulates a child's stderr (the server log) and lets tests wait for a line. */
class LogWatch {
  constructor(stream) {
    this.text = '';
    this.waiters = [];
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      this.text += chunk;
      if (process.env.MNEMO_TEST_VERBOSE) process.stderr.write(chunk);
      this.waiters = this.waiters.filter((w) => !w.check());
    });
  }

  /** Resolves with the regex match once the log contains `regex` (searched from `from`). */
  waitFor(regex, { from = 0, timeoutMs = GUARD_MS } = {}) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const match = regex.exec(this.text.slice(from));
          if (!match) return false;
          clearTimeout(waiter.timer);
          resolve(match);
          return true;
        },
      };
      if (waiter.check()) return;
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${regex} in the server log:\n${this.text}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

function watchExit(child) {
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * The protocol tests check the server against the identifier menu's predictable answers
 * (`--identifier-menu`); semantic_menu.test.mjs passes `identifierMenu: false` for libclang's.
 */
function menuArgs(identifierMenu) {
  return identifierMenu ? ['--identifier-menu'] : [];
}

/**
 * Starts `mnemo --log-level <logLevel> serve <args>` on stdio and connects a client.
 * Returns { child, connection, log, exited }.
 */
export function startStdioServer(args = [], { logLevel = 'debug', identifierMenu = true } = {}) {
  const child = spawn(mnemoBin(), ['--log-level', logLevel, 'serve', ...menuArgs(identifierMenu), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const log = new LogWatch(child.stderr);
  const exited = watchExit(child);
  const connection = lsp.createProtocolConnection(
    new lsp.StreamMessageReader(child.stdout), new lsp.StreamMessageWriter(child.stdin));
  // The server closes its end at exit; writes racing with that must not crash the test.
  child.stdin.on('error', () => {});
  connection.listen();
  return { child, connection, log, exited };
}

/** Starts `mnemo serve --listen 127.0.0.1:0` and returns the port it logged. */
export async function startTcpServer(args = [], { identifierMenu = true } = {}) {
  const child = spawn(mnemoBin(), ['--log-level', 'debug', 'serve', '--listen', '127.0.0.1:0',
                                   ...menuArgs(identifierMenu), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = new LogWatch(child.stderr);
  const exited = watchExit(child);
  const match = await log.waitFor(/serve: LSP on tcp 127\.0\.0\.1:(\d+)/);
  const port = Number(match[1]);
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => { stdout += chunk; });
  return { child, log, exited, port, stdout: () => stdout };
}

/** One TCP client session: a socket and a protocol connection over it. */
export async function connectTcp(port) {
  const socket = net.createConnection({ host: '127.0.0.1', port });
  await withTimeout(once(socket, 'connect'), GUARD_MS, `connecting to 127.0.0.1:${port}`);
  const connection = lsp.createProtocolConnection(
    new lsp.SocketMessageReader(socket), new lsp.SocketMessageWriter(socket));
  connection.listen();
  const closed = once(socket, 'close');
  return { socket, connection, closed };
}

/** initialize + initialized. Returns the InitializeResult. */
export async function initialize(connection, {
  rootDir,
  capabilities = {},
  workspaceFolders,
  clientName = 'mnemo-node-tests',
  initializationOptions,
} = {}) {
  const params = {
    initializationOptions,
    processId: process.pid,
    clientInfo: { name: clientName, version: '1' },
    rootUri: rootDir ? fileUri(rootDir) : null,
    capabilities,
    workspaceFolders: workspaceFolders ??
      (rootDir ? [{ uri: fileUri(rootDir), name: path.basename(rootDir) }] : null),
  };
  const result = await withTimeout(
    connection.sendRequest(lsp.InitializeRequest.type, params), GUARD_MS, 'initialize');
  await connection.sendNotification(lsp.InitializedNotification.type, {});
  return result;
}

export function didOpen(connection, uri, text, version = 1, languageId = 'cpp') {
  return connection.sendNotification(lsp.DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId, version, text },
  });
}

export function complete(connection, uri, line, character, token, context) {
  const params = { textDocument: { uri }, position: { line, character } };
  if (context) params.context = context;
  return connection.sendRequest(lsp.CompletionRequest.type, params, token);
}

export function inlineComplete(connection, uri, line, character, context, token) {
  const params = { textDocument: { uri }, position: { line, character }, context };
  // With a method name (no typed RequestType), a trailing undefined would make the
  // params an array: pass the token only when there is one.
  return token
    ? connection.sendRequest('textDocument/inlineCompletion', params, token)
    : connection.sendRequest('textDocument/inlineCompletion', params);
}

/** shutdown + exit; resolves with the process's { code, signal }. */
export async function shutdownAndExit(server) {
  const result = await withTimeout(
    server.connection.sendRequest(lsp.ShutdownRequest.type), GUARD_MS, 'shutdown');
  if (result !== null && result !== undefined) throw new Error(`shutdown returned ${JSON.stringify(result)}`);
  await server.connection.sendNotification(lsp.ExitNotification.type);
  const status = await withTimeout(server.exited, GUARD_MS, 'the server to exit');
  server.connection.dispose();
  return status;
}

/** Kills a server a failed test left running. */
export function killQuietly(server) {
  if (server?.child && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGKILL');
  }
  try { server?.connection?.dispose(); } catch { /* already disposed */ }
}

/** Polls `probe` (async, returning a truthy value when done) until it succeeds. */
export async function eventually(probe, what, timeoutMs = GUARD_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
