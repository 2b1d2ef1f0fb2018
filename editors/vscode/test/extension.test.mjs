// Tests of the compiled extension (out/extension.js) under plain Node, with 'vscode' faked
// by ./fake-vscode.mjs:
//   - the pure helpers (settings, command line, TCP address, executable lookup);
//   - activate() with a recording stand-in for vscode-languageclient: what it is handed;
//   - activate() with the real vscode-languageclient against the real `mnemo` (MNEMO_BIN,
//     else ../../build/mnemo; those tests are skipped when neither exists): completion and
//     inline completion over stdio and over TCP, a server crash and restart.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';

import {
  CancellationTokenSource, loadExtension, Position, Range, reset, root, state, textDocument, Uri, vscode,
} from './fake-vscode.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mnemo-vscode-test-'));
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  // Everything is stopped by now, and the process ends by itself. If something still runs
  // (a server the extension failed to stop, which its client would restart), end it here
  // rather than hang until the caller's timeout. unref: this timer alone keeps nothing up.
  setTimeout(() => {
    console.error('extension.test.mjs: still running 5 s after the tests ended (a leaked server?)');
    process.exit(1);
  }, 5000).unref();
});

/** An executable file at `dir/name` (a shell script; never run by the fake-client tests). */
function makeExecutable(dir, name = 'mnemo') {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  return file;
}

function folder(dir) {
  return { uri: Uri.file(dir), name: path.basename(dir), index: 0 };
}

function fireConfigurationChange(...changed) {
  state.events.onDidChangeConfiguration.fire({
    affectsConfiguration: (section) => changed.some((c) => c === section || c.startsWith(`${section}.`)),
  });
}

/** The mnemo processes that are children of this one (Linux: ps --ppid). */
function servers() {
  const ps = spawnSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((line) => line.trim().split(/\s+/)[1] === 'mnemo');
}

/** Waits up to 5 s for `condition()`. */
async function eventually(condition, what) {
  for (const deadline = Date.now() + 5000; !condition();) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function extensionContext() {
  return { subscriptions: [] };
}

describe('pure helpers', () => {
  const ext = loadExtension();

  test('serverCommand: --log-level before serve, the user arguments after it', () => {
    assert.deepEqual(ext.serverCommand({ path: 'mnemo', arguments: [], logLevel: 'info' }),
                     { command: 'mnemo', args: ['--log-level', 'info', 'serve'] });
    assert.deepEqual(
      ext.serverCommand({ path: 'mnemo', arguments: ['--workers', '4'], logLevel: 'trace' }, '/opt/bin/mnemo'),
      { command: '/opt/bin/mnemo', args: ['--log-level', 'trace', 'serve', '--workers', '4'] });
  });

  test('readSettings: defaults, and defaults again for values of the wrong type', () => {
    const defaults = { path: 'mnemo', arguments: [], logLevel: 'info', tcp: '' };
    assert.deepEqual(ext.readSettings(() => undefined), defaults);
    const wrong = { path: 42, arguments: 'x', logLevel: 'loud', 'server.tcp': ['a'] };
    assert.deepEqual(ext.readSettings((key) => wrong[key]), defaults);
    const given = { path: ' /x/mnemo ', arguments: ['--workers', 2, '3'], logLevel: 'off', 'server.tcp': ' :2087 ' };
    assert.deepEqual(ext.readSettings((key) => given[key]),
                     { path: '/x/mnemo', arguments: ['--workers', '3'], logLevel: 'off', tcp: ':2087' });
  });

  test('initializationOptions: only the completion settings the user set, grouped as in .mnemo/config.json', () => {
    assert.deepEqual(ext.initializationOptions(() => null), {});
    assert.deepEqual(ext.initializationOptions(() => undefined), {});
    const given = { model: ' ~/m.gguf ', 'memory.topK': 4, 'memory.window': null, 'inline.debounceMs': 0 };
    assert.deepEqual(ext.initializationOptions((key) => given[key]),
                     { model: '~/m.gguf', memory: { topK: 4 }, inline: { debounceMs: 0 } });
  });

  test('parseTcpAddress reads what `mnemo serve --listen` accepts', () => {
    assert.deepEqual(ext.parseTcpAddress('localhost:2087'), { host: 'localhost', port: 2087 });
    assert.deepEqual(ext.parseTcpAddress('2087'), { host: '127.0.0.1', port: 2087 });
    assert.deepEqual(ext.parseTcpAddress(':2087'), { host: '127.0.0.1', port: 2087 });
    assert.deepEqual(ext.parseTcpAddress('[::1]:65535'), { host: '::1', port: 65535 });
    for (const bad of ['', 'host', 'host:', 'host:0', 'host:65536', 'host:12a', '[::1]', '[::1:80']) {
      assert.throws(() => ext.parseTcpAddress(bad), /port|IPV6/, bad);
    }
  });

  test('resolveExecutable: PATH, workspace-relative, ${workspaceFolder}, missing', () => {
    const bin = makeExecutable(path.join(tmp, 'path-bin'));
    const ws = path.join(tmp, 'ws');
    const built = makeExecutable(path.join(ws, 'build'));
    fs.writeFileSync(path.join(ws, 'not-executable'), '', { mode: 0o644 });

    assert.equal(ext.resolveExecutable('mnemo', { PATH: `/nonexistent${path.delimiter}${path.dirname(bin)}` }), bin);
    assert.equal(ext.resolveExecutable('mnemo', { PATH: '/nonexistent' }), undefined);
    assert.equal(ext.resolveExecutable(bin), bin);
    assert.equal(ext.resolveExecutable('build/mnemo', { workspaceFolder: ws }), built);
    assert.equal(ext.resolveExecutable('${workspaceFolder}/build/mnemo', { workspaceFolder: ws }), built);
    assert.equal(ext.resolveExecutable('${workspaceFolder}/build/mnemo', {}), undefined);
    assert.equal(ext.resolveExecutable(path.join(ws, 'build')), undefined, 'a directory');
    if (process.platform !== 'win32') {
      assert.equal(ext.resolveExecutable(path.join(ws, 'not-executable')), undefined);
    }
  });
});

describe('activate() with a recording language client', () => {
  /** Records what the extension hands vscode-languageclient and what it calls. */
  class FakeLanguageClient {
    static instances = [];
    constructor(id, name, serverOptions, clientOptions) {
      Object.assign(this, { id, name, serverOptions, clientOptions, calls: [] });
      FakeLanguageClient.instances.push(this);
    }
    registerProposedFeatures() { this.calls.push('registerProposedFeatures'); }
    async start() { this.calls.push('start'); this.running = true; }
    async stop() { this.calls.push('stop'); this.running = false; }
    isRunning() { return this.running === true; }
    // What the inline completion middleware uses.
    requests = [];
    code2ProtocolConverter = {
      asTextDocumentIdentifier: (document) => ({ uri: document }),
      asPosition: (p) => ({ line: p.line, character: p.character }),
      asRange: (r) => ({ start: this.code2ProtocolConverter.asPosition(r.start), end: this.code2ProtocolConverter.asPosition(r.end) }),
    };
    protocol2CodeConverter = { asInlineCompletionResult: async () => ['converted'] };
    async sendRequest(method, params) { this.requests.push([method, params]); return { items: [] }; }
  }
  const fakeClientModule = { LanguageClient: FakeLanguageClient };

  let ext;
  beforeEach(() => {
    reset();
    FakeLanguageClient.instances = [];
    ext = loadExtension(fakeClientModule);
  });
  afterEach(() => ext.deactivate());

  test('builds the command line from mnemo.path, mnemo.logLevel and mnemo.arguments', async () => {
    const bin = makeExecutable(path.join(tmp, 'activate-bin'));
    state.config = { 'mnemo.path': bin, 'mnemo.logLevel': 'debug', 'mnemo.arguments': ['--workers', '2'] };
    const context = extensionContext();
    await ext.activate(context);

    assert.equal(FakeLanguageClient.instances.length, 1);
    const client = FakeLanguageClient.instances[0];
    assert.deepEqual(client.serverOptions, {
      command: bin, args: ['--log-level', 'debug', 'serve', '--workers', '2'],
    }, 'no transport: TransportKind.stdio would add --stdio, which mnemo rejects');
    assert.deepEqual(client.calls, ['registerProposedFeatures', 'start'],
                     'inline completion is a proposed feature in vscode-languageclient 9');
    assert.deepEqual(client.clientOptions.documentSelector.map((f) => `${f.scheme}:${f.language}`),
                     ['file:c', 'file:cpp', 'file:objective-c', 'file:objective-cpp', 'file:cuda-cpp', 'file:cuda']);
    assert.equal(client.clientOptions.outputChannel.name, 'mnemo');
    assert.deepEqual(client.clientOptions.initializationOptions, {});
    assert.deepEqual([...state.commands.keys()].sort(), ['mnemo.restartServer', 'mnemo.showOutput']);
    assert.ok(context.subscriptions.length >= 3, 'output channel, commands and listener are disposed with the extension');
    assert.deepEqual(state.errors, []);

    await ext.deactivate();
    assert.deepEqual(client.calls, ['registerProposedFeatures', 'start', 'stop']);
  });

  test('defaults: `mnemo` on PATH, --log-level info', async () => {
    const bin = makeExecutable(path.join(tmp, 'default-bin'));
    const savedPath = process.env.PATH;
    process.env.PATH = `${path.dirname(bin)}${path.delimiter}${savedPath}`;
    try {
      await ext.activate(extensionContext());
    } finally {
      process.env.PATH = savedPath;
    }
    assert.deepEqual(FakeLanguageClient.instances[0].serverOptions,
                     { command: bin, args: ['--log-level', 'info', 'serve'] });
  });

  test('a missing executable: no client, an error that points at mnemo.path', async () => {
    state.config = { 'mnemo.path': path.join(tmp, 'nowhere', 'mnemo') };
    await ext.activate(extensionContext());
    assert.equal(FakeLanguageClient.instances.length, 0);
    assert.equal(state.errors.length, 1);
    assert.match(state.errors[0], /cannot find the server executable ".*nowhere\/mnemo"/);
    assert.match(state.errors[0], /"mnemo\.path"/);
  });

  test('mnemo.server.tcp: connects to HOST:PORT instead of spawning', async () => {
    const listener = net.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const accepted = once(listener, 'connection');
    try {
      state.config = { 'mnemo.server.tcp': `127.0.0.1:${listener.address().port}`, 'mnemo.path': '/nonexistent' };
      await ext.activate(extensionContext());
      const { serverOptions } = FakeLanguageClient.instances[0];
      assert.equal(typeof serverOptions, 'function', 'a StreamInfo factory');
      const streams = await serverOptions();
      const [socket] = await accepted;
      assert.ok(streams.reader === streams.writer && streams.reader instanceof net.Socket);
      streams.writer.destroy();
      socket.destroy();
    } finally {
      listener.close();
    }
    assert.deepEqual(state.errors, [], 'mnemo.path is not looked at');
  });

  test('a bad mnemo.server.tcp: no client, an error that names the setting', async () => {
    state.config = { 'mnemo.server.tcp': 'localhost:http' };
    await ext.activate(extensionContext());
    assert.equal(FakeLanguageClient.instances.length, 0);
    assert.match(state.errors[0], /"mnemo\.server\.tcp".*invalid port "http"/);
  });

  test('inline completion requests are LSP 3.18 ones, and mnemo.inlineCompletions.enabled gates them', async () => {
    state.config = { 'mnemo.path': makeExecutable(path.join(tmp, 'inline-bin')) };
    await ext.activate(extensionContext());
    const client = FakeLanguageClient.instances[0];
    const { provideInlineCompletionItems } = client.clientOptions.middleware;
    const token = new CancellationTokenSource().token;
    const range = new Range(2, 2, 2, 6);
    const ask = (context) => provideInlineCompletionItems('doc', new Position(2, 6), context, token, () => {
      throw new Error('the client\'s own request has the 3.18-proposal trigger kinds');
    });

    assert.deepEqual(await ask({ triggerKind: vscode.InlineCompletionTriggerKind.Invoke }), ['converted']);
    await ask({ triggerKind: vscode.InlineCompletionTriggerKind.Automatic,
                selectedCompletionInfo: { range, text: 'work_in' } });
    assert.deepEqual(JSON.parse(JSON.stringify(client.requests)), [
      ['textDocument/inlineCompletion', {
        textDocument: { uri: 'doc' }, position: { line: 2, character: 6 },
        context: { triggerKind: 1 },
      }],
      ['textDocument/inlineCompletion', {
        textDocument: { uri: 'doc' }, position: { line: 2, character: 6 },
        context: { triggerKind: 2, selectedCompletionInfo: {
          range: { start: { line: 2, character: 2 }, end: { line: 2, character: 6 } }, text: 'work_in' } },
      }],
    ], 'Invoked 1, Automatic 2, and an LSP range');

    state.config['mnemo.inlineCompletions.enabled'] = false;
    fireConfigurationChange('mnemo.inlineCompletions.enabled');
    assert.equal(await ask({ triggerKind: vscode.InlineCompletionTriggerKind.Invoke }), undefined);
    assert.equal(client.requests.length, 2, 'no request when disabled');
    assert.equal(FakeLanguageClient.instances.length, 1, 'no restart');
  });

  test('a change of a server setting, or the restart command, starts a new client', async () => {
    const bin = makeExecutable(path.join(tmp, 'restart-bin'));
    state.config = { 'mnemo.path': bin };
    await ext.activate(extensionContext());

    state.config['mnemo.logLevel'] = 'trace';
    fireConfigurationChange('mnemo.logLevel');
    await ext.deactivate(); // runs after the queued restart
    assert.equal(FakeLanguageClient.instances.length, 2);
    assert.deepEqual(FakeLanguageClient.instances[0].calls, ['registerProposedFeatures', 'start', 'stop']);
    assert.deepEqual(FakeLanguageClient.instances[1].serverOptions.args, ['--log-level', 'trace', 'serve']);

    await state.commands.get('mnemo.restartServer')();
    assert.equal(FakeLanguageClient.instances.length, 3);
    assert.equal(ext.currentClient(), FakeLanguageClient.instances[2]);
  });

  test('a completion setting reaches the server as initializationOptions, by a restart', async () => {
    const bin = makeExecutable(path.join(tmp, 'options-bin'));
    state.config = { 'mnemo.path': bin, 'mnemo.prompt.prefixTokens': 900 };
    await ext.activate(extensionContext());
    assert.deepEqual(FakeLanguageClient.instances[0].clientOptions.initializationOptions,
                     { prompt: { prefixTokens: 900 } });

    state.config['mnemo.model'] = '/models/m.gguf';
    fireConfigurationChange('mnemo.model');
    await ext.deactivate(); // runs after the queued restart
    assert.equal(FakeLanguageClient.instances.length, 2);
    assert.deepEqual(FakeLanguageClient.instances[1].clientOptions.initializationOptions,
                     { model: '/models/m.gguf', prompt: { prefixTokens: 900 } });
  });

  test('the names settings reach the server, and changing one restarts it', async () => {
    const bin = makeExecutable(path.join(tmp, 'names-bin'));
    state.config = { 'mnemo.path': bin, 'mnemo.names.hold': false,
                     'mnemo.prompt.declarationTokens': 0 };
    await ext.activate(extensionContext());
    assert.deepEqual(FakeLanguageClient.instances[0].clientOptions.initializationOptions,
                     { prompt: { declarationTokens: 0 }, names: { hold: false } });
    state.config['mnemo.names.priorWeight'] = 2;
    fireConfigurationChange('mnemo.names.priorWeight');
    await ext.deactivate();
    assert.equal(FakeLanguageClient.instances.length, 2);
    assert.deepEqual(FakeLanguageClient.instances[1].clientOptions.initializationOptions,
                     { prompt: { declarationTokens: 0 }, names: { hold: false, priorWeight: 2 } });
  });
});

// ---- against the real server ----
const MNEMO_BIN = process.env.MNEMO_BIN ?? path.resolve(root, '..', '..', 'build', 'mnemo');
const haveServer = fs.existsSync(MNEMO_BIN);
const skip = haveServer ? false : `no mnemo binary at ${MNEMO_BIN} (build it, or set MNEMO_BIN)`;

const SOURCE = ['int work_in_doc = 3;', 'void g() {', '  work', '}', ''].join('\n');

/** Opens a document the way VS Code does, and returns it. */
function openDocument(dir) {
  const document = textDocument(path.join(dir, 'main.cpp'), 'cpp', SOURCE);
  state.documents.push(document);
  state.events.onDidOpenTextDocument.fire(document);
  return document;
}

function provider(kind) {
  const entry = state.providers.find((p) => p.kind === kind);
  assert.ok(entry, `${kind} registered; registered: ${state.providers.map((p) => p.kind)}`);
  return entry;
}

/** Asks the registered inline completion provider, as VS Code does when the user types. */
async function inlineCompletions(document, line, character, context) {
  const { provider: inline } = provider('InlineCompletionItemProvider');
  const result = await inline.provideInlineCompletionItems(
    document, new Position(line, character), context, new CancellationTokenSource().token);
  return result === undefined || result === null ? result : Array.isArray(result) ? result : result.items;
}

const { Invoke, Automatic } = vscode.InlineCompletionTriggerKind;

/** What every real-server session checks, whichever the transport. */
async function checkSession(ext, dir) {
  const client = ext.currentClient();
  assert.ok(client?.isRunning(), `client running; output:\n${state.output.join('\n')}`);
  assert.deepEqual(state.errors, []);
  assert.equal(client.initializeResult.serverInfo.name, 'mnemo');

  const completion = provider('CompletionItemProvider');
  assert.deepEqual(completion.extra, ['.', '>', ':'], 'trigger characters');
  assert.deepEqual(completion.selector.map((f) => f.language),
                   ['c', 'cpp', 'objective-c', 'objective-cpp', 'cuda-cpp', 'cuda']);

  const document = openDocument(dir);
  // Only the open document has identifiers: the workspace folder is empty.
  const invoked = await inlineCompletions(document, 2, 6, { triggerKind: Invoke });
  assert.deepEqual(invoked.map((i) => i.insertText), ['work_in_doc']);
  const { range } = invoked[0];
  assert.deepEqual([range.start, range.end].map((p) => [p.line, p.character]), [[2, 2], [2, 6]]);
  const automatic = await inlineCompletions(document, 2, 6, { triggerKind: Automatic });
  assert.deepEqual(automatic.map((i) => i.insertText), ['work_in_doc']);
  const selected = await inlineCompletions(document, 2, 6, {
    triggerKind: Automatic, selectedCompletionInfo: { range: new Range(2, 2, 2, 6), text: 'workspace' },
  });
  assert.deepEqual(selected, [], 'nothing matches the selected completion "workspace"');
  assert.deepEqual(state.errors, []);

  const list = await completion.provider.provideCompletionItems(
    document, new Position(2, 6), { triggerKind: 0 }, new CancellationTokenSource().token);
  const labels = (Array.isArray(list) ? list : list.items).map((i) => i.label);
  assert.ok(labels.includes('work_in_doc'), `completion labels: ${labels}`);

  state.config['mnemo.inlineCompletions.enabled'] = false;
  assert.equal(await inlineCompletions(document, 2, 6, { triggerKind: Invoke }), undefined, 'disabled: no request');
}

describe('activate() with the real vscode-languageclient', () => {
  let ext;
  let dir;
  beforeEach(() => {
    reset();
    ext = loadExtension();
    dir = fs.mkdtempSync(path.join(tmp, 'workspace-'));
    state.workspaceFolders = [folder(dir)];
  });
  afterEach(() => ext.deactivate());

  test('over stdio: spawns `mnemo --log-level debug serve`; completion and inline completion work', { skip }, async () => {
    // --no-model: the session's answers are the symbolic engine's, which checkSession knows.
    state.config = { 'mnemo.path': MNEMO_BIN, 'mnemo.logLevel': 'debug', 'mnemo.arguments': ['--no-model'] };
    await ext.activate(extensionContext());
    assert.ok(state.output.some((l) => l.includes(`starting ${MNEMO_BIN} --log-level debug serve --no-model`)));
    await checkSession(ext, dir);

    const client = ext.currentClient();
    // The server's stderr goes to the output channel; it logs notifications it ignores at
    // debug level only, so this line shows that --log-level debug took.
    await client.sendNotification('$/mnemoVscodeTest');
    await eventually(() => state.output.join('').includes('ignored notification $/mnemoVscodeTest'),
                     `the debug line in:\n${state.output.join('')}`);
    await ext.deactivate();
    assert.equal(client.isRunning(), false);
  });

  test('over TCP: connects to a running `mnemo serve --listen`', { skip }, async () => {
    const server = spawn(MNEMO_BIN, ['serve', '--listen', '127.0.0.1:0', '--no-model'],
                         { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let log = '';
      const port = await new Promise((resolve, reject) => {
        server.stderr.on('data', (chunk) => {
          log += chunk;
          const m = /LSP on tcp 127\.0\.0\.1:(\d+)/.exec(log);
          if (m) resolve(Number(m[1]));
        });
        server.once('exit', (code) => reject(new Error(`mnemo exited (${code}) before listening:\n${log}`)));
      });
      state.config = { 'mnemo.server.tcp': `127.0.0.1:${port}`, 'mnemo.path': '/nonexistent' };
      await ext.activate(extensionContext());
      await checkSession(ext, dir);
      await ext.deactivate();
    } finally {
      server.kill();
    }
  });

  test('a server that dies is restarted, and deactivate() during that restart stops it', { skip }, async () => {
    state.config = { 'mnemo.path': MNEMO_BIN };
    await ext.activate(extensionContext());
    const client = ext.currentClient();
    const states = [];
    let deactivated;
    client.onDidChangeState(({ newState }) => {
      states.push(newState);
      // Deactivate while the client is Starting the new server: stop() would throw there.
      if (newState === 3 && !deactivated) deactivated = ext.deactivate();
    });
    const killed = Date.now();
    client._serverProcess.kill('SIGKILL'); // private: the spawned server
    // Normally the client restarts the server; a failed write to the dead one can make it
    // shut down instead (Stopped, no Starting): a race inside the client.
    await eventually(() => deactivated || (Date.now() - killed > 1000 && !client.isRunning()),
                     `a restart; states: ${states}`);
    await (deactivated ?? ext.deactivate());
    assert.equal(client.isRunning(), false);
    if (deactivated) {
      assert.deepEqual(states, [1, 3, 2, 1], 'Stopped (the kill), Starting, Running (waited for), Stopped');
    }
    if (process.platform === 'linux') {
      await eventually(() => !servers().length, `no mnemo child left; left: ${servers()}`);
    }
  });

  test('over TCP with nothing listening: the start fails with a hint', async () => {
    const listener = net.createServer().listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const { port } = listener.address();
    listener.close(); // a port that was just free
    await once(listener, 'close');
    state.config = { 'mnemo.server.tcp': `127.0.0.1:${port}` };
    await ext.activate(extensionContext());
    assert.equal(ext.currentClient()?.isRunning(), false);
    assert.ok(state.errors.some((e) => /is `mnemo serve --listen 127\.0\.0\.1:\d+` running\?/.test(e)),
              `errors: ${state.errors}`);
  });
});
