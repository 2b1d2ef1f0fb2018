// Entry point of the `integration_node` ctest test: checks the prerequisites with a clear
// message, then runs every test/*.test.mjs with node's built-in test runner.
//   MNEMO_BIN=build/mnemo node tests/integration/node/run.mjs [extra node --test args]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`integration_node: ${message}`);
  console.error('integration_node: FAILED (prerequisites)');
  process.exit(1);
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 18) fail(`node ${process.version} is too old; the tests need node >= 18 (node:test)`);
for (const pkg of ['vscode-languageserver-protocol', 'vscode-jsonrpc']) {
  if (!fs.existsSync(path.join(here, 'node_modules', pkg, 'package.json'))) {
    fail(`${path.join(here, 'node_modules', pkg)} is missing: run scripts/install-deps.sh ` +
         `(or \`npm ci\` in ${here})`);
  }
}
if (!process.env.MNEMO_BIN) fail('MNEMO_BIN is not set (ctest sets it to the built mnemo binary)');
if (!fs.existsSync(process.env.MNEMO_BIN)) fail(`MNEMO_BIN=${process.env.MNEMO_BIN} does not exist`);

const files = fs.readdirSync(path.join(here, 'test'))
  .filter((name) => name.endsWith('.test.mjs'))
  .sort()
  .map((name) => path.join('test', name));
// The files mostly wait on servers (3 s engine delays in cancel.test.mjs): run them side
// by side, and give each test a deadline well under ctest's (flags from node 20.11).
const [, minor] = process.versions.node.split('.').map(Number);
const extra = major > 20 || (major === 20 && minor >= 11)
  ? [`--test-concurrency=${files.length}`, '--test-timeout=60000']
  : [];
const result = spawnSync(process.execPath,
                         ['--test', '--test-reporter=spec', ...extra, ...process.argv.slice(2), ...files],
                         { cwd: here, stdio: 'inherit' });
if (result.error) fail(`cannot run node --test: ${result.error.message}`);
process.exit(result.status ?? 1);
