-- End-to-end test of mnemo with Neovim's built-in LSP client, through the plugin in
-- editors/nvim. Run headless (ctest does this; MNEMO_BIN is the server binary):
--
--   MNEMO_BIN=build/mnemo nvim --headless --clean -u NONE -i NONE -n \
--     -c 'set rtp^=editors/nvim' -c 'luafile tests/integration/nvim/completion_test.lua'
--
-- It opens a C++ file (the FileType autocmd of the plugin starts the server and attaches
-- it), edits the buffer with nvim_buf_set_lines / nvim_buf_set_text (so that the client
-- sends incremental didChange), requests completion with vim.lsp.buf_request_sync, checks
-- the items and their textEdit ranges, and stops the client: the server must exit with 0.
-- Exits with :cq on any failure. Every vim.wait is a deadlock guard, not a timing check.
local GUARD_MS = 15000

local function out(msg)
  io.stdout:write(msg .. '\n')
  io.stdout:flush()
end

local checks = 0
local function check(cond, msg)
  if not cond then
    error(msg, 2)
  end
  checks = checks + 1
end

local function eq(actual, expected, what)
  if not vim.deep_equal(actual, expected) then
    error(string.format('%s: expected %s, got %s', what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
  checks = checks + 1
end

local function write_file(path, lines)
  local f = assert(io.open(path, 'w'))
  f:write(table.concat(lines, '\n') .. '\n')
  f:close()
end

--- Length of `s` (UTF-8) in the units of a position encoding.
local function units(s, encoding)
  local n, i = 0, 1
  while i <= #s do
    local b = s:byte(i)
    local len = (b < 0x80 and 1) or (b >= 0xF0 and 4) or (b >= 0xE0 and 3) or (b >= 0xC0 and 2) or 1
    if encoding == 'utf-8' then
      n = n + len
    elseif encoding == 'utf-16' then
      n = n + (len == 4 and 2 or 1)
    else
      n = n + 1
    end
    i = i + len
  end
  return n
end

local function clients_of(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr })
  end
  return vim.tbl_values(vim.lsp.buf_get_clients(bufnr))
end

local function run()
  local bin = os.getenv('MNEMO_BIN')
  check(bin and bin ~= '', 'MNEMO_BIN is not set (ctest sets it to the built mnemo binary)')
  check(vim.fn.executable(bin) == 1, 'MNEMO_BIN=' .. tostring(bin) .. ' is not executable')

  local ok_plugin, mnemo = pcall(require, 'mnemo')
  check(ok_plugin, 'cannot load the plugin (is editors/nvim on the runtimepath?): ' .. tostring(mnemo))

  -- A workspace: a root marker, a file the server indexes, and the file we edit.
  local root = vim.fn.resolve(vim.fn.tempname())
  vim.fn.mkdir(root, 'p')
  write_file(root .. '/compile_commands.json', { '[]' })
  write_file(root .. '/workspace.cpp', { 'int nvim_workspace_symbol = 1;' })
  local main_lines = {
    '// 漢字 marker',
    'int nvim_alpha = 1;',
    'int nvim_beta = 2;',
    'int main() {',
    '  return 0;',
    '}',
  }
  write_file(root .. '/main.cpp', main_lines)
  local log_file = root .. '/mnemo.log'

  local state = { attached = nil, exit = nil, init = nil, notifications = {} }
  mnemo.setup({
    -- The identifier menu: this test checks the client's edits and ranges against its
    -- predictable answers (the libclang menu has tests of its own).
    cmd = { bin, '--log-level', 'debug', '--log-file', log_file, 'serve', '--identifier-menu' },
    filetypes = { 'c', 'cpp' },
    flags = { debounce_text_changes = 10 },
    on_init = function(client, result)
      state.init = result
      -- Record what the client sends, to check the didChange notifications are incremental.
      local notify = client.notify
      client.notify = function(a, b, c)
        local method, params = a, b
        if type(a) == 'table' then -- client:notify(method, params) on 0.11+
          method, params = b, c
        end
        table.insert(state.notifications, { method = method, params = params })
        return notify(a, b, c)
      end
    end,
    on_attach = function(client, bufnr)
      state.attached = { client_id = client.id, bufnr = bufnr }
    end,
    on_exit = function(code, signal)
      state.exit = { code = code, signal = signal }
    end,
  })
  check(mnemo.config.cmd[1] == bin, 'setup keeps cmd')

  vim.cmd('filetype on')
  vim.cmd('edit ' .. vim.fn.fnameescape(root .. '/main.cpp'))
  local bufnr = vim.api.nvim_get_current_buf()
  eq(vim.bo[bufnr].filetype, 'cpp', 'filetype')
  check(vim.wait(GUARD_MS, function()
    return state.attached ~= nil
  end, 10), 'the client did not attach to the buffer (server: ' .. bin .. ', log: ' .. log_file .. ')')
  eq(state.attached.bufnr, bufnr, 'attached buffer')
  local client = vim.lsp.get_client_by_id(state.attached.client_id)
  check(client ~= nil, 'client')
  eq(#clients_of(bufnr), 1, 'clients attached to the buffer')
  eq(client.config.root_dir, root, 'root_dir from the root marker')

  local caps = state.init.capabilities
  eq(caps.textDocumentSync.change, 2, 'incremental sync')
  eq(caps.completionProvider.triggerCharacters, { '.', '>', ':' }, 'trigger characters')
  -- Whatever was negotiated (utf-16 on 0.7-0.9, utf-8 from 0.10), client and server agree.
  local encoding = caps.positionEncoding
  eq(client.offset_encoding, encoding, 'offset_encoding')
  out('# nvim ' .. tostring(vim.version and vim.version().major) .. '.' .. tostring(vim.version().minor) ..
      ' negotiated ' .. encoding)

  local uri = vim.uri_from_bufnr(bufnr)
  local function complete(line, character)
    local results, err = vim.lsp.buf_request_sync(bufnr, 'textDocument/completion', {
      textDocument = { uri = uri },
      position = { line = line, character = character },
    }, GUARD_MS)
    check(results, 'completion request failed: ' .. tostring(err))
    local response = results[client.id]
    check(response, 'no completion response from the client ' .. client.id)
    local rpc_err = response.err or response.error
    check(rpc_err == nil, 'completion error: ' .. vim.inspect(rpc_err))
    return response.result
  end
  local function labels(list)
    local names = {}
    for _, item in ipairs(list.items) do
      table.insert(names, item.label)
    end
    table.sort(names)
    return names
  end

  -- Edit 1 (set_lines): a new line 4 with a typed prefix.
  vim.api.nvim_buf_set_lines(bufnr, 4, 4, true, { '  int total = nvim_' })
  -- Edit 2 (set_text): after the CJK on line 0, in the middle of the line.
  local line0 = vim.api.nvim_buf_get_lines(bufnr, 0, 1, true)[1]
  local col = #'// 漢字 '
  vim.api.nvim_buf_set_text(bufnr, 0, col, 0, col, { 'nvim_cjk_word ' })
  -- Edit 3 (set_text): append a prefix at the end of line 0.
  line0 = vim.api.nvim_buf_get_lines(bufnr, 0, 1, true)[1]
  eq(line0, '// 漢字 nvim_cjk_word marker', 'line 0 in the buffer')
  vim.api.nvim_buf_set_text(bufnr, 0, #line0, 0, #line0, { ' nvim_cj' })
  line0 = line0 .. ' nvim_cj'

  -- Completion on line 4: identifiers of the document and (once indexed) the workspace.
  local list
  check(vim.wait(GUARD_MS, function()
    list = complete(4, #'  int total = nvim_')
    return vim.tbl_contains(labels(list), 'nvim_workspace_symbol')
  end, 50), 'the workspace identifier never appeared; last answer: ' .. vim.inspect(list and labels(list)))
  -- ('nvim_cj' is the word being typed on line 0: a word of the document like any other.)
  eq(labels(list), { 'nvim_alpha', 'nvim_beta', 'nvim_cj', 'nvim_cjk_word', 'nvim_workspace_symbol' }, 'labels')
  for _, item in ipairs(list.items) do
    eq(item.textEdit.range, { start = { line = 4, character = 14 }, ['end'] = { line = 4, character = 19 } },
       'range of ' .. item.label)
    eq(item.textEdit.newText, item.label, 'newText')
  end

  -- Completion on the CJK line: the range is in the negotiated units.
  local on_cjk = complete(0, units(line0, encoding))
  eq(labels(on_cjk), { 'nvim_cjk_word' }, 'labels on the CJK line')
  eq(on_cjk.items[1].textEdit.range, {
    start = { line = 0, character = units('// 漢字 nvim_cjk_word marker ', encoding) },
    ['end'] = { line = 0, character = units(line0, encoding) },
  }, 'range on the CJK line')

  -- Edit 4: type two more characters; the list narrows.
  vim.api.nvim_buf_set_text(bufnr, 4, 19, 4, 19, { 'al' })
  local narrowed = complete(4, 21)
  eq(labels(narrowed), { 'nvim_alpha' }, 'labels after typing "al"')
  eq(narrowed.items[1].textEdit.range, { start = { line = 4, character = 14 }, ['end'] = { line = 4, character = 21 } },
     'range after typing "al"')
  eq(narrowed.isIncomplete, false, 'isIncomplete')

  -- The client sent the edits as incremental changes.
  local changes = 0
  for _, n in ipairs(state.notifications) do
    if n.method == 'textDocument/didChange' then
      for _, change in ipairs(n.params.contentChanges) do
        check(change.range ~= nil, 'a full-text didChange was sent: ' .. vim.inspect(change))
        changes = changes + 1
      end
    end
  end
  check(changes >= 4, 'expected at least 4 incremental changes, got ' .. changes)

  -- Stop: shutdown + exit; the server exits with 0.
  mnemo.stop_client(client)
  check(vim.wait(GUARD_MS, function()
    return state.exit ~= nil
  end, 10), 'the server did not exit after client.stop()')
  eq(state.exit, { code = 0, signal = 0 }, 'server exit')

  local log = table.concat(vim.fn.readfile(log_file), '\n')
  check(log:find('lsp: exit %(0%)') ~= nil, 'server log shows exit (0):\n' .. log)
  vim.fn.delete(root, 'rf')
end

local ok, err = xpcall(run, debug.traceback)
if ok then
  out(string.format('nvim completion test: OK (%d checks)', checks))
  vim.cmd('qall!')
else
  out('nvim completion test: FAILED\n' .. tostring(err))
  vim.cmd('cquit 1')
end
