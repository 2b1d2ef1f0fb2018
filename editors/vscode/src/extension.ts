// The mnemo extension: starts `mnemo serve` (or connects to a running one over TCP) and lets
// vscode-languageclient do the LSP work: completion, inline completion, text sync, progress.

import * as net from 'net';
import * as vscode from 'vscode';
import {
  InlineCompletionItem,
  InlineCompletionList,
  InlineCompletionRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  StreamInfo,
} from 'vscode-languageclient/node';
import {
  initializationOptions,
  MnemoSettings,
  parseTcpAddress,
  readSettings,
  resolveExecutable,
  serverCommand,
} from './command';

export {
  initializationOptions,
  parseTcpAddress,
  readSettings,
  resolveExecutable,
  serverCommand,
} from './command';

// 'cuda-cpp' is VS Code's own id for CUDA; 'cuda' is the one some CUDA extensions use.
export const LANGUAGES = ['c', 'cpp', 'objective-c', 'objective-cpp', 'cuda-cpp', 'cuda'];

// Changing one of these needs a new server process; the others take effect at once.
// The server reads the completion settings once, at initialize: a change restarts it.
const RESTART_SETTINGS = [
  'mnemo.path', 'mnemo.arguments', 'mnemo.logLevel', 'mnemo.server.tcp',
  'mnemo.model', 'mnemo.memory', 'mnemo.prompt', 'mnemo.names', 'mnemo.inline.debounceMs',
  'mnemo.inline.identifierBoost',
];

let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;
// Starts and stops run one after another, so a restart never races the first start.
let queue: Promise<void> = Promise.resolve();

export function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('mnemo');
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('mnemo.restartServer', restart),
    vscode.commands.registerCommand('mnemo.showOutput', () => output?.show(true)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (RESTART_SETTINGS.some((section) => event.affectsConfiguration(section))) void restart();
    }),
  );
  return enqueue(startClient);
}

export function deactivate(): Promise<void> {
  return enqueue(stopClient);
}

/** The running client, for tests. */
export function currentClient(): LanguageClient | undefined {
  return client;
}

function restart(): Promise<void> {
  return enqueue(async () => {
    await stopClient();
    await startClient();
  });
}

function enqueue(step: () => Promise<void>): Promise<void> {
  queue = queue.then(step, step);
  return queue;
}

function settings(): MnemoSettings {
  const config = vscode.workspace.getConfiguration('mnemo');
  return readSettings((key) => config.get(key));
}

async function startClient(): Promise<void> {
  const current = settings();
  const serverOptions = makeServerOptions(current);
  if (!serverOptions) return;

  const config = vscode.workspace.getConfiguration('mnemo');
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
    initializationOptions: initializationOptions((key) => config.get(key)),
    outputChannel: output,
    middleware: {
      provideInlineCompletionItems: (document, position, context, token) =>
        inlineCompletions(started, document, position, context, token),
    },
  };
  const started = new LanguageClient('mnemo', 'mnemo', serverOptions, clientOptions);
  client = started;
  // vscode-languageclient 9 has textDocument/inlineCompletion as a proposed feature, off
  // unless registered: it announces the capability and registers the provider, whose
  // requests inlineCompletions() then sends.
  started.registerProposedFeatures();
  try {
    await started.start();
  } catch (error) {
    const where = current.tcp
      ? `the server at ${current.tcp} (is \`mnemo serve --listen ${current.tcp}\` running?)`
      : `\`${current.path} serve\``;
    report(`mnemo: could not start ${where}: ${message(error)}`);
  }
}

async function stopClient(): Promise<void> {
  const stopping = client;
  client = undefined;
  if (!stopping) return;
  try {
    // stop() throws unless the client is running: a client restarting itself after a
    // crash is waited for, one whose start failed has nothing to stop.
    if (stopping.state === State.Starting) await stopping.start().catch(() => undefined);
    if (stopping.isRunning()) await stopping.stop();
  } catch (error) {
    output?.appendLine(`mnemo: stopping the server: ${message(error)}`);
  }
}

/** Sends textDocument/inlineCompletion as LSP 3.18 has it, which vscode-languageclient 9
 * does not: it implements the 3.18 proposal, whose trigger kinds were VS Code's (Invoke 0,
 * Automatic 1) where 3.18 has Invoked 1, Automatic 2 (mnemo rejects 0), and it sends
 * selectedCompletionInfo's range unconverted. (vscode-languageclient 10 does it right, but
 * needs VS Code 1.91.) Reads the setting on every request, so turning inline completions
 * off needs no restart. */
async function inlineCompletions(
  current: LanguageClient,
  document: vscode.TextDocument,
  position: vscode.Position,
  context: vscode.InlineCompletionContext,
  token: vscode.CancellationToken,
): Promise<vscode.InlineCompletionList | vscode.InlineCompletionItem[] | undefined> {
  if (!vscode.workspace.getConfiguration('mnemo').get('inlineCompletions.enabled', true)) return undefined;
  const c2p = current.code2ProtocolConverter;
  const selected = context.selectedCompletionInfo;
  const params = {
    textDocument: c2p.asTextDocumentIdentifier(document),
    position: c2p.asPosition(position),
    context: {
      triggerKind: context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke ? 1 : 2,
      selectedCompletionInfo: selected && { range: c2p.asRange(selected.range), text: selected.text },
    },
  };
  try {
    const result = await current.sendRequest<InlineCompletionList | InlineCompletionItem[] | null>(
      InlineCompletionRequest.method, params, token);
    if (token.isCancellationRequested) return undefined;
    return await current.protocol2CodeConverter.asInlineCompletionResult(result, token);
  } catch (error) {
    return current.handleFailedRequest(InlineCompletionRequest.type, token, error, undefined);
  }
}

/** How the client reaches the server, or undefined (after telling the user) when it can't. */
function makeServerOptions(current: MnemoSettings): ServerOptions | undefined {
  if (current.tcp) {
    let address: { host: string; port: number };
    try {
      address = parseTcpAddress(current.tcp);
    } catch (error) {
      report(`mnemo: bad "mnemo.server.tcp" setting ${message(error)}`, 'mnemo.server.tcp');
      return undefined;
    }
    output?.appendLine(`mnemo: connecting to ${current.tcp}`);
    return () => connect(address.host, address.port);
  }

  const workspaceFolder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const executable = resolveExecutable(current.path, { workspaceFolder });
  if (!executable) {
    report(
      `mnemo: cannot find the server executable "${current.path}". ` +
        'Install mnemo on your PATH, or set "mnemo.path" to the full path of the mnemo binary ' +
        '(e.g. ${workspaceFolder}/build/mnemo).',
      'mnemo.path',
    );
    return undefined;
  }
  const { command, args } = serverCommand(current, executable);
  output?.appendLine(`mnemo: starting ${[command, ...args].join(' ')}`);
  // No `transport`: TransportKind.stdio would append `--stdio`, which `mnemo serve` rejects;
  // left out, the client still talks over the process's stdin and stdout.
  return { command, args };
}

function connect(host: string, port: number): Promise<StreamInfo> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    // Left attached after the connect (where it does nothing), so that no later socket
    // error is ever without a listener before the client adds its own.
    socket.on('error', reject);
    socket.once('connect', () => resolve({ reader: socket, writer: socket }));
  });
}

/** Shows an error (not awaited: the promise only settles when the user dismisses it), with a
 * button to the offending setting. */
function report(text: string, setting?: string): void {
  output?.appendLine(text);
  const actions = setting ? ['Open Settings'] : [];
  void vscode.window.showErrorMessage(text, ...actions).then((choice) => {
    if (choice && setting) void vscode.commands.executeCommand('workbench.action.openSettings', setting);
  });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
