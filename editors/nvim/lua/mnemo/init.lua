-- mnemo for Neovim: starts `mnemo serve` and attaches it to C and C++ buffers.
--
--   require('mnemo').setup({ cmd = { 'mnemo', 'serve' }, filetypes = { 'c', 'cpp' } })
--
-- Works on Neovim 0.7.2 (Debian 12's) and newer: it uses only vim.lsp.start_client,
-- vim.lsp.buf_attach_client and nvim_create_autocmd (0.7), and switches to their
-- replacements where newer versions deprecate them (vim.lsp.start with attach = false and
-- Client:stop() from 0.11). One server per workspace root; see README.md.
local M = {}

local uv = vim.loop or vim.uv

local defaults = {
  -- The server command; `mnemo` must be on $PATH, or give its full path.
  cmd = { 'mnemo', 'serve' },
  filetypes = { 'c', 'cpp', 'objc', 'objcpp', 'cuda' },
  -- The first directory above a buffer's file holding one of these is its workspace
  -- root (the server indexes it); failing that, the file's own directory.
  root_markers = { '.git', '.hg', 'compile_commands.json', 'compile_flags.txt', 'CMakeLists.txt' },
  -- function(bufnr, path) -> directory; overrides root_markers.
  root_dir = nil,
  name = 'mnemo',
  -- Passed to the client as they are.
  capabilities = nil,
  handlers = nil,
  init_options = nil,
  flags = { debounce_text_changes = 50 },
  cmd_env = nil,
  -- Callbacks of the client config: on_init(client, result), on_attach(client, bufnr),
  -- on_exit(code, signal, client_id).
  on_init = nil,
  on_attach = nil,
  on_exit = nil,
}

M.config = vim.deepcopy(defaults)

-- root directory -> client id of the server started for it.
local clients_by_root = {}
local augroup = nil

local has_011 = vim.fn.has('nvim-0.11') == 1

local function is_dir(path)
  local stat = uv.fs_stat(path)
  return stat ~= nil and stat.type == 'directory'
end

local function exists(path)
  return uv.fs_stat(path) ~= nil
end

local function dirname(path)
  return vim.fn.fnamemodify(path, ':h')
end

--- The workspace root for a file: the nearest ancestor holding a root marker.
function M.find_root(path)
  local dir = is_dir(path) and path or dirname(path)
  local start = dir
  while dir and dir ~= '' do
    for _, marker in ipairs(M.config.root_markers or {}) do
      if exists(dir .. '/' .. marker) then
        return dir
      end
    end
    local parent = dirname(dir)
    if parent == dir then
      break
    end
    dir = parent
  end
  return start
end

--- A client by id, or nil once it is gone.
function M.get_client(client_id)
  return vim.lsp.get_client_by_id(client_id)
end

--- Stops a client gracefully (shutdown, then exit). `client.stop()` up to 0.10,
--- `client:stop()` from 0.11, where methods take self.
function M.stop_client(client, force)
  if has_011 then
    return client:stop(force)
  end
  return client.stop(force)
end

--- Stops every server started by this plugin.
function M.stop()
  for root, client_id in pairs(clients_by_root) do
    local client = M.get_client(client_id)
    if client then
      M.stop_client(client)
    end
    clients_by_root[root] = nil
  end
end

local function start_client(config)
  if has_011 then
    -- vim.lsp.start_client is deprecated from 0.11; this is its replacement. A new client
    -- per call (the plugin does its own reuse, by root), attached below like on 0.7.
    return vim.lsp.start(config, {
      attach = false,
      reuse_client = function()
        return false
      end,
    })
  end
  return vim.lsp.start_client(config)
end

--- Starts (or reuses) the server for `root_dir`; returns its client id.
function M.start(root_dir)
  local existing = clients_by_root[root_dir]
  if existing then
    local client = M.get_client(existing)
    local stopped = client == nil
    if client and client.is_stopped then
      if has_011 then
        stopped = client:is_stopped()
      else
        stopped = client.is_stopped()
      end
    end
    if not stopped then
      return existing
    end
    clients_by_root[root_dir] = nil
  end
  local c = M.config
  local config = {
    name = c.name,
    cmd = c.cmd,
    cmd_env = c.cmd_env,
    root_dir = root_dir,
    workspace_folders = {
      { uri = vim.uri_from_fname(root_dir), name = root_dir },
    },
    capabilities = c.capabilities or vim.lsp.protocol.make_client_capabilities(),
    handlers = c.handlers,
    init_options = c.init_options,
    flags = c.flags,
    on_init = c.on_init,
    on_attach = c.on_attach,
    on_exit = function(code, signal, client_id)
      if clients_by_root[root_dir] == client_id then
        clients_by_root[root_dir] = nil
      end
      if c.on_exit then
        c.on_exit(code, signal, client_id)
      end
    end,
  }
  local client_id = start_client(config)
  if client_id then
    clients_by_root[root_dir] = client_id
  else
    vim.notify('mnemo: could not start ' .. table.concat(c.cmd, ' '), vim.log.levels.ERROR)
  end
  return client_id
end

--- Attaches the server for the buffer's workspace to `bufnr` (0: the current buffer).
--- Returns the client id, or nil for a buffer without a file.
function M.attach(bufnr)
  if bufnr == nil or bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  if vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path == '' then
    return nil
  end
  path = vim.fn.fnamemodify(path, ':p')
  local root = M.config.root_dir and M.config.root_dir(bufnr, path) or M.find_root(path)
  if not root then
    return nil
  end
  local client_id = M.start(root)
  if client_id then
    vim.lsp.buf_attach_client(bufnr, client_id)
  end
  return client_id
end

--- Configures the plugin and attaches to buffers of `filetypes`, including those
--- already open. Calling it again replaces the configuration. (Neovim itself stops the
--- servers when it exits.)
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  if type(M.config.cmd) == 'string' then
    M.config.cmd = { M.config.cmd }
  end
  -- Lists replace the defaults rather than merging index by index.
  for _, key in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if opts and opts[key] then
      M.config[key] = vim.deepcopy(opts[key])
    end
  end
  augroup = vim.api.nvim_create_augroup('mnemo', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = augroup,
    pattern = M.config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
    desc = 'mnemo: attach the language server',
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
      M.attach(bufnr)
    end
  end
end

return M
