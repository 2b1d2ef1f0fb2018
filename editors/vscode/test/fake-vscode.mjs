// A stand-in for the 'vscode' module, so that out/extension.js and the real
// vscode-languageclient run under plain Node. It implements what the extension and the
// client touch on the way to a completion (configuration, output channel, commands, document
// events, provider registration, the value classes the converters build); anything else
// resolves to an inert stub (see `inert`). `vscode.state` records what happened.
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
const require = createRequire(import.meta.url);

// ---- what the tests look at and set ----
export const state = {
  config: {}, // full setting name ('mnemo.path') -> value; absent: the caller's default
  workspaceFolders: undefined, // [{ uri, name, index }]
  errors: [], // messages of showErrorMessage
  output: [], // lines appended to any output channel
  commands: new Map(), // id -> callback
  executed: [], // [id, ...args] of executeCommand
  providers: [], // { kind, selector, provider, extra } of languages.register*Provider
  documents: [], // workspace.textDocuments
  events: {}, // name -> EventEmitter of the workspace/window events
};

export function reset() {
  state.config = {};
  state.workspaceFolders = undefined;
  state.errors = [];
  state.output = [];
  state.commands = new Map();
  state.executed = [];
  state.providers = [];
  state.documents = [];
  for (const emitter of Object.values(state.events)) emitter.listeners = [];
}

// ---- value classes ----
class Disposable {
  constructor(callOnDispose = () => {}) { this._dispose = callOnDispose; }
  static from(...items) { return new Disposable(() => items.forEach((i) => i?.dispose?.())); }
  dispose() { this._dispose(); this._dispose = () => {}; }
}

class EventEmitter {
  listeners = [];
  event = (listener, thisArg, disposables) => {
    const entry = listener.bind(thisArg);
    this.listeners.push(entry);
    const d = new Disposable(() => { this.listeners = this.listeners.filter((l) => l !== entry); });
    disposables?.push(d);
    return d;
  };
  fire(value) { for (const l of [...this.listeners]) l(value); }
  dispose() { this.listeners = []; }
}

class CancellationTokenSource {
  #emitter = new EventEmitter();
  token = { isCancellationRequested: false, onCancellationRequested: this.#emitter.event };
  cancel() { this.token.isCancellationRequested = true; this.#emitter.fire(); }
  dispose() {}
}

class Uri {
  constructor(scheme, authority, pathPart, query, fragment) {
    Object.assign(this, { scheme, authority, path: pathPart, query, fragment });
  }
  static parse(text) {
    const url = new URL(text);
    return new Uri(url.protocol.slice(0, -1), url.host, decodeURIComponent(url.pathname),
                   url.search.slice(1), url.hash.slice(1));
  }
  static file(fsPath) { return Uri.parse(pathToFileURL(fsPath).href); }
  get fsPath() { return this.scheme === 'file' ? fileURLToPath(this.toString()) : this.path; }
  with(change) {
    return new Uri(change.scheme ?? this.scheme, change.authority ?? this.authority,
                   change.path ?? this.path, change.query ?? this.query, change.fragment ?? this.fragment);
  }
  toString() {
    if (this.scheme === 'file') return pathToFileURL(this.path).href;
    return `${this.scheme}://${this.authority}${this.path}${this.query ? `?${this.query}` : ''}`;
  }
  toJSON() { return this.toString(); }
}

// toJSON as VS Code's own: a Range that reaches JSON.stringify unconverted becomes
// [start, end], which is not an LSP range.
class Position {
  constructor(line, character) { this.line = line; this.character = character; }
  toJSON() { return { line: this.line, character: this.character }; }
}

class Range {
  constructor(a, b, c, d) {
    [this.start, this.end] = typeof a === 'number' ? [new Position(a, b), new Position(c, d)] : [a, b];
  }
  toJSON() { return [this.start, this.end]; }
}

class InlineCompletionItem {
  constructor(insertText, range, command) { Object.assign(this, { insertText, range, command }); }
}
class InlineCompletionList {
  constructor(items) { this.items = items; }
}
class CompletionItem {
  constructor(label, kind) { Object.assign(this, { label, kind }); }
}
class CompletionList {
  constructor(items = [], isIncomplete = false) { Object.assign(this, { items, isIncomplete }); }
}
class CancellationError extends Error {}

/** A text document as the client sees one: enough for didOpen and request parameters. */
export function textDocument(fsPath, languageId, text, version = 1) {
  return {
    uri: Uri.file(fsPath), fileName: fsPath, languageId, version, isClosed: false,
    isUntitled: false, isDirty: false, eol: 1, lineCount: text.split('\n').length,
    getText: () => text,
  };
}

// ---- namespaces ----
function event(name) {
  state.events[name] ??= new EventEmitter();
  return state.events[name].event;
}

/** A document selector's score for a document, as languages.match: > 0 when it matches. */
function match(selector, document) {
  const filters = Array.isArray(selector) ? selector : [selector];
  return filters.some((f) =>
    typeof f === 'string'
      ? f === document.languageId || f === '*'
      : (!f.language || f.language === document.languageId) &&
        (!f.scheme || f.scheme === document.uri.scheme) &&
        !f.pattern && !f.notebookType) ? 10 : 0;
}

function register(kind) {
  return (selector, provider, ...extra) => {
    const entry = { kind, selector, provider, extra };
    state.providers.push(entry);
    return new Disposable(() => { state.providers = state.providers.filter((p) => p !== entry); });
  };
}

const workspace = {
  get workspaceFolders() { return state.workspaceFolders; },
  get textDocuments() { return state.documents; },
  getWorkspaceFolder: (uri) => state.workspaceFolders?.find((f) => uri.fsPath.startsWith(f.uri.fsPath)),
  getConfiguration(section) {
    const full = (key) => (section ? `${section}.${key}` : key);
    return {
      get: (key, fallback) => (full(key) in state.config ? state.config[full(key)] : fallback),
      has: (key) => full(key) in state.config,
      inspect: () => undefined,
      update: async () => {},
    };
  },
  onDidChangeConfiguration: event('onDidChangeConfiguration'),
  onDidChangeWorkspaceFolders: event('onDidChangeWorkspaceFolders'),
  onDidOpenTextDocument: event('onDidOpenTextDocument'),
  onDidChangeTextDocument: event('onDidChangeTextDocument'),
  onDidCloseTextDocument: event('onDidCloseTextDocument'),
  onDidSaveTextDocument: event('onDidSaveTextDocument'),
  onWillSaveTextDocument: event('onWillSaveTextDocument'),
  createFileSystemWatcher: () => ({
    onDidCreate: event('fsCreate'), onDidChange: event('fsChange'), onDidDelete: event('fsDelete'),
    dispose() {},
  }),
};

function outputChannel(name) {
  return {
    name,
    append: (text) => state.output.push(text),
    appendLine: (line) => state.output.push(line),
    replace() {}, clear() {}, show() {}, hide() {}, dispose() {},
  };
}

const window = {
  createOutputChannel: outputChannel,
  showErrorMessage: (message, ...items) => { state.errors.push(message); return Promise.resolve(undefined); },
  showWarningMessage: () => Promise.resolve(undefined),
  showInformationMessage: () => Promise.resolve(undefined),
  withProgress: (options, task) => task({ report() {} }, new CancellationTokenSource().token),
  activeTextEditor: undefined,
  visibleTextEditors: [],
  onDidChangeActiveTextEditor: event('onDidChangeActiveTextEditor'),
  tabGroups: { all: [], onDidChangeTabs: event('onDidChangeTabs') },
};

const commands = {
  registerCommand(id, callback) {
    state.commands.set(id, callback);
    return new Disposable(() => state.commands.delete(id));
  },
  executeCommand: async (id, ...args) => {
    state.executed.push([id, ...args]);
    return state.commands.get(id)?.(...args);
  },
};

const languages = new Proxy({ match, createDiagnosticCollection: () => inert('diagnostics') }, {
  get: (target, prop) =>
    prop in target ? target[prop]
      : typeof prop === 'string' && prop.startsWith('register') ? register(prop.slice('register'.length))
      : inert(`languages.${String(prop)}`),
});

/** An inert stub for the parts of the API nothing here uses: callable, constructible (and
 * extensible, for the client's `class X extends vscode.Y`), every property another stub,
 * disposable, and never a promise. */
function inert(name) {
  const stub = function (...args) {
    if (new.target) { this.args = args; return; }
    return inert(`${name}()`);
  };
  return new Proxy(stub, {
    get(target, prop) {
      if (prop === 'then') return undefined;
      if (prop === 'dispose') return () => {};
      if (prop === Symbol.iterator) return function* () {};
      if (prop in target) return target[prop];
      return (target[prop] = inert(`${name}.${String(prop)}`));
    },
  });
}

const vscode = new Proxy({
  version: '1.82.0',
  env: { language: 'en', appName: 'Visual Studio Code', openExternal: async () => false },
  workspace, window, commands, languages,
  Disposable, EventEmitter, CancellationTokenSource, CancellationError, Uri, Position, Range,
  InlineCompletionItem, InlineCompletionList, CompletionItem, CompletionList,
  InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 },
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  state,
}, { get: (target, prop) => (prop in target ? target[prop] : (target[prop] = inert(String(prop)))) });

// ---- module wiring ----
// 'vscode' resolves to this object for every requirer. 'vscode-languageclient/node', when
// out/ requires it, resolves to a slot that loadExtension fills with a stand-in or with the
// real module, so a test can either look at what the extension hands the client or run the
// real client. (Always the same slot: Node caches a resolution per requiring directory.)
const VSCODE_ID = path.join(here, '<vscode>');
const CLIENT_ID = path.join(here, '<vscode-languageclient>');
const OUT_DIR = path.join(root, 'out') + path.sep;
require.cache[VSCODE_ID] = { id: VSCODE_ID, filename: VSCODE_ID, loaded: true, exports: vscode };

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === 'vscode') return VSCODE_ID;
  if (request === 'vscode-languageclient/node' && parent?.filename?.startsWith(OUT_DIR)) return CLIENT_ID;
  return resolve.call(this, request, parent, ...rest);
};

/** A fresh copy of out/extension.js (its module state is per load), seeing the real
 * vscode-languageclient/node with `overrides` (e.g. a stand-in LanguageClient) over it. */
export function loadExtension(overrides = {}) {
  const exports = { ...require('vscode-languageclient/node'), ...overrides };
  require.cache[CLIENT_ID] = { id: CLIENT_ID, filename: CLIENT_ID, loaded: true, exports };
  for (const id of Object.keys(require.cache)) {
    if (id.startsWith(OUT_DIR)) delete require.cache[id];
  }
  return require(path.join(root, 'out', 'extension.js'));
}

export { vscode, Uri, Position, Range, CancellationTokenSource };
