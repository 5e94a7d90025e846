'use strict';
// fnplat Node.js runtime server: open-runtimes v5 protocol (see docs spec §7.4-7.8, §9).
// Plain Node 18, no dependencies. Serves HTTP on 0.0.0.0:3000 and runs the function found at
// src/function/$OPEN_RUNTIMES_ENTRYPOINT for every request.

const fs = require('fs');
const fsp = require('fs/promises');
const http = require('http');
const path = require('path');
const util = require('util');
const crypto = require('crypto');
const { pathToFileURL } = require('url');
const { AsyncLocalStorage } = require('async_hooks');

const BOOT_TIME = process.hrtime.bigint();
const PORT = 3000;
const HOST = '0.0.0.0';
const FUNCTION_DIR = path.join(__dirname, 'function');
const LOGS_DIR = process.env.OPEN_RUNTIMES_LOGS_DIR || '/mnt/logs';
const MAX_BODY_BYTES = 20 * 1024 * 1024;
const MAX_LOG_CHARS = 8000;
const HEADER_PREFIX = 'x-open-runtimes-';

const MSG_UNAUTHORIZED = 'Unauthorized. Provide correct "x-open-runtimes-secret" header.';
const MSG_BAD_TIMEOUT = 'Header "x-open-runtimes-timeout" must be an integer greater than 0.';
const MSG_NATIVE_LOGS = 'Native logs detected. Use context.log() or context.error() for better experience.';
const MSG_SIGNATURE = "Function signature invalid. Did you forget to export a 'main' function?";
const MSG_NO_RETURN = 'Return statement missing. return context.res.empty() if no response is expected.';
const MSG_TIMED_OUT = 'Execution timed out.';
const MSG_LOG_TRUNCATED = `... Log truncated due to size limit (${MAX_LOG_CHARS} characters)`;

const timings = { startup: null, entrypointLoad: null };

// ---------------------------------------------------------------------------------------------
// Logging: every request gets a Logger; native console.* calls made while the function runs are
// attributed to the request through AsyncLocalStorage.

const requestStore = new AsyncLocalStorage();
const nativeConsole = {};
for (const method of ['log', 'info', 'debug', 'warn', 'error', 'trace', 'dir', 'table']) {
  nativeConsole[method] = console[method].bind(console);
  console[method] = (...args) => {
    const logger = requestStore.getStore();
    if (logger && logger.open) {
      logger.native(args);
    } else {
      nativeConsole[method](...args);
    }
  };
}

function stringify(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.stack || String(value);
  if (value === undefined) return 'undefined';
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    return String(value);
  }
  if (value !== null && typeof value === 'object') {
    try {
      const json = JSON.stringify(value);
      if (json !== undefined) return json;
    } catch (_) {
      // circular or throwing getters: fall through to inspect
    }
    return util.inspect(value, { depth: 4, breakLength: Infinity });
  }
  return String(value);
}

function formatLine(args) {
  let line = args.map(stringify).join(' ');
  if (line.length > MAX_LOG_CHARS) {
    line = line.slice(0, MAX_LOG_CHARS) + MSG_LOG_TRUNCATED;
  }
  return line;
}

class Logger {
  constructor(enabled, id) {
    this.enabled = enabled;
    this.id = id;
    this.open = true;
    this.logs = [];
    this.errors = [];
    this.nativeUsed = false;
  }

  log(args) {
    if (this.open && this.enabled) this.logs.push(formatLine(args));
  }

  error(args) {
    if (this.open && this.enabled) this.errors.push(formatLine(args));
  }

  native(args) {
    if (!this.open || !this.enabled) return;
    this.nativeUsed = true;
    this.logs.push(formatLine(args));
  }

  // Writes (appends) both files; called once, before the response is sent so the caller can read
  // them as soon as it has the response. Later log calls (e.g. after a timeout) are dropped.
  async flush() {
    if (!this.open) return;
    this.open = false;
    if (!this.enabled) return;
    const logs = this.nativeUsed ? [MSG_NATIVE_LOGS, ...this.logs] : this.logs;
    const toText = (lines) => lines.map((l) => l + '\n').join('');
    const base = path.join(LOGS_DIR, this.id);
    try {
      await fsp.mkdir(LOGS_DIR, { recursive: true });
      await Promise.all([
        fsp.appendFile(`${base}_logs.log`, toText(logs)),
        fsp.appendFile(`${base}_errors.log`, toText(this.errors)),
      ]);
    } catch (err) {
      nativeConsole.error(`[runtime] failed to write log files for ${this.id}: ${err.message}`);
    }
  }
}

let lastLogIdTime = 0n;
function generateLogId() {
  if (process.env.OPEN_RUNTIMES_ENV === 'development') return 'dev';
  // uniqid-like: microseconds since epoch in hex, strictly increasing, plus random suffix.
  let micros = BigInt(Date.now()) * 1000n + (process.hrtime.bigint() / 1000n) % 1000n;
  if (micros <= lastLogIdTime) micros = lastLogIdTime + 1n;
  lastLogIdTime = micros;
  return micros.toString(16) + crypto.randomBytes(3).toString('hex');
}

// Log ids end up in file names: keep them to a safe alphabet.
function sanitizeLogId(id) {
  const clean = String(id).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 128);
  return clean || generateLogId();
}

// ---------------------------------------------------------------------------------------------
// Entrypoint loading (cached after the first success).

class LoadError extends Error {}

let cachedFunction = null;

async function loadFunction(logger) {
  if (cachedFunction) return cachedFunction;
  const entrypoint = process.env.OPEN_RUNTIMES_ENTRYPOINT || '';
  const file = path.resolve(FUNCTION_DIR, entrypoint);
  if (!entrypoint || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    throw new LoadError(`Failed to load entrypoint, file ${entrypoint} does not exist.`);
  }
  const started = process.hrtime.bigint();
  let mod;
  try {
    try {
      mod = require(file);
    } catch (err) {
      if (err && err.code === 'ERR_REQUIRE_ESM') {
        mod = await import(pathToFileURL(file).href);
      } else {
        throw err;
      }
    }
  } catch (err) {
    logger.error([err instanceof Error ? err.stack || String(err) : stringify(err)]);
    throw new LoadError(null);
  }
  let fn = mod;
  if (mod && typeof mod !== 'function' && mod.default !== undefined) fn = mod.default;
  // `export default` compiled to CJS by some bundlers: { default: { default: fn } }
  if (fn && typeof fn === 'object' && typeof fn.default === 'function') fn = fn.default;
  if (typeof fn !== 'function') {
    throw new LoadError(MSG_SIGNATURE);
  }
  timings.entrypointLoad = Number(process.hrtime.bigint() - started) / 1e6;
  cachedFunction = fn;
  return fn;
}

// ---------------------------------------------------------------------------------------------
// Context API.

function headerValue(value) {
  if (Array.isArray(value)) return value.join(', ');
  return value === undefined || value === null ? '' : String(value);
}

function buildRequest(nodeReq, bodyBuffer, headers) {
  const rawUrl = nodeReq.url || '/';
  const q = rawUrl.indexOf('?');
  const reqPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const queryString = q === -1 ? '' : rawUrl.slice(q + 1);

  const query = {};
  for (const part of queryString.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    if (!(key in query)) query[key] = value;
  }

  const scheme = (headers['x-forwarded-proto'] || 'http').split(',')[0].trim() || 'http';
  const defaultPort = scheme === 'https' ? 443 : 80;
  const hostHeader = headers['host'] || '';
  let host = hostHeader;
  let port = defaultPort;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(hostHeader);
  if (m) {
    host = m[1];
    if (m[2] !== undefined) port = parseInt(m[2], 10);
  }
  const portPart = port === defaultPort ? '' : `:${port}`;
  const url = `${scheme}://${host}${portPart}${reqPath}${queryString ? `?${queryString}` : ''}`;

  const req = {
    bodyBinary: bodyBuffer,
    headers,
    method: nodeReq.method,
    scheme,
    host,
    port,
    path: reqPath,
    queryString,
    query,
    url,
  };
  let text;
  const bodyText = () => (text === undefined ? (text = bodyBuffer.toString('utf8')) : text);
  Object.defineProperties(req, {
    bodyText: { get: bodyText, enumerable: true },
    bodyRaw: { get: bodyText, enumerable: true },
    bodyJson: { get: () => JSON.parse(bodyText()), enumerable: true },
    body: {
      get: () => {
        const contentType = (headers['content-type'] || '').toLowerCase();
        if (contentType.startsWith('application/json')) {
          const t = bodyText();
          return t === '' ? {} : JSON.parse(t);
        }
        return bodyText();
      },
      enumerable: true,
    },
  });
  return req;
}

const RESPONSE = Symbol('fnplat.response');

function makeOutput(body, statusCode, headers) {
  return {
    [RESPONSE]: true,
    body,
    statusCode: statusCode === undefined ? 200 : statusCode,
    headers: headers || {},
  };
}

function hasHeader(headers, name) {
  return Object.keys(headers || {}).some((k) => k.toLowerCase() === name);
}

function buildResponse() {
  return {
    send(body, statusCode = 200, headers = {}) {
      return makeOutput(body, statusCode, headers);
    },
    text(body, statusCode = 200, headers = {}) {
      return makeOutput(body === undefined || body === null ? '' : String(body), statusCode, headers);
    },
    binary(bytes, statusCode = 200, headers = {}) {
      return makeOutput(toBuffer(bytes), statusCode, headers);
    },
    json(obj, statusCode = 200, headers = {}) {
      const h = { ...(headers || {}) };
      if (!hasHeader(h, 'content-type')) h['content-type'] = 'application/json';
      return makeOutput(JSON.stringify(obj), statusCode, h);
    },
    empty() {
      return makeOutput('', 204, {});
    },
    redirect(url, statusCode = 301, headers = {}) {
      return makeOutput('', statusCode, { ...(headers || {}), location: url });
    },
  };
}

function toBuffer(body) {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (typeof body === 'object') return Buffer.from(JSON.stringify(body), 'utf8');
  return Buffer.from(String(body), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing.

function sendPlain(res, statusCode, message, extraHeaders = {}) {
  const body = Buffer.from(message, 'utf8');
  res.writeHead(statusCode, {
    ...extraHeaders,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
  });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`Request body exceeds ${MAX_BODY_BYTES} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function enforcedHeaders() {
  const raw = process.env.OPEN_RUNTIMES_HEADERS;
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed;
  } catch (_) {
    // ignore malformed value
  }
  return {};
}

async function handle(nodeReq, nodeRes) {
  const reqPath = (nodeReq.url || '/').split('?')[0];
  if (nodeReq.method === 'GET' && reqPath === '/__opr/health') {
    return sendPlain(nodeRes, 200, 'OK');
  }
  if (nodeReq.method === 'GET' && reqPath === '/__opr/timings') {
    const lines = [`startup=${timings.startup}`];
    if (timings.entrypointLoad !== null) lines.push(`entrypoint_load=${timings.entrypointLoad}`);
    return sendPlain(nodeRes, 200, lines.join('\n') + '\n');
  }

  const secret = process.env.OPEN_RUNTIMES_SECRET || '';
  if (secret !== '' && headerValue(nodeReq.headers['x-open-runtimes-secret']) !== secret) {
    return sendPlain(nodeRes, 500, MSG_UNAUTHORIZED);
  }

  let timeout = null;
  const rawTimeout = headerValue(nodeReq.headers['x-open-runtimes-timeout']).trim();
  if (rawTimeout !== '') {
    const n = Number(rawTimeout);
    if (!/^\d+$/.test(rawTimeout) || !Number.isSafeInteger(n) || n <= 0) {
      return sendPlain(nodeRes, 500, MSG_BAD_TIMEOUT);
    }
    timeout = n;
  }

  const loggingEnabled =
    headerValue(nodeReq.headers['x-open-runtimes-logging']).trim().toLowerCase() !== 'disabled';
  const requestedLogId = headerValue(nodeReq.headers['x-open-runtimes-log-id']).trim();
  const logId = requestedLogId ? sanitizeLogId(requestedLogId) : generateLogId();
  const logger = new Logger(loggingEnabled, logId);
  const runtimeHeaders = { 'x-open-runtimes-log-id': encodeURIComponent(logId) };

  let bodyBuffer;
  try {
    bodyBuffer = await readBody(nodeReq);
  } catch (err) {
    return sendPlain(nodeRes, 500, err.message, runtimeHeaders);
  }

  // Headers the function sees: lower-cased, without x-open-runtimes-*, then OPEN_RUNTIMES_HEADERS.
  const headers = {};
  for (const [key, value] of Object.entries(nodeReq.headers)) {
    const k = key.toLowerCase();
    if (k.startsWith(HEADER_PREFIX)) continue;
    headers[k] = headerValue(value);
  }
  for (const [key, value] of Object.entries(enforcedHeaders())) {
    headers[key.toLowerCase()] = headerValue(value);
  }

  const context = {
    req: buildRequest(nodeReq, bodyBuffer, headers),
    res: buildResponse(),
    log: (...args) => logger.log(args),
    error: (...args) => logger.error(args),
  };

  // Result: { statusCode, headers, body } to send.
  const result = await requestStore.run(logger, () => execute(context, logger, timeout));
  await logger.flush();

  const outHeaders = {};
  for (const [key, value] of Object.entries(result.headers || {})) {
    const k = String(key).toLowerCase();
    if (k.startsWith(HEADER_PREFIX) || k === 'content-length' || k === 'transfer-encoding') continue;
    if (value === undefined || value === null) continue;
    outHeaders[k] = Array.isArray(value) ? value.map(String) : String(value);
  }
  let contentType = headerValue(outHeaders['content-type']) || 'text/plain';
  if (!contentType.toLowerCase().startsWith('multipart/') && !/charset=/i.test(contentType)) {
    contentType += '; charset=utf-8';
  }
  outHeaders['content-type'] = contentType;
  Object.assign(outHeaders, runtimeHeaders);

  const body = nodeReq.method === 'HEAD' ? Buffer.alloc(0) : result.body;
  outHeaders['content-length'] = String(body.length);
  try {
    nodeRes.writeHead(result.statusCode, outHeaders);
  } catch (err) {
    // invalid status code or header value returned by the function
    nodeConsole.error(`[runtime] invalid response from function: ${err.message}`);
    return sendPlain(nodeRes, 500, '', runtimeHeaders);
  }
  nodeRes.end(body);
}

async function execute(context, logger, timeout) {
  const failure = (statusCode) => ({ statusCode, headers: {}, body: Buffer.alloc(0) });

  let fn;
  try {
    fn = await loadFunction(logger);
  } catch (err) {
    if (err instanceof LoadError) {
      if (err.message) logger.error([err.message]);
    } else {
      logger.error([err instanceof Error ? err.stack || String(err) : stringify(err)]);
    }
    return failure(503);
  }

  let output;
  let timer = null;
  try {
    const run = Promise.resolve().then(() => fn(context));
    if (timeout !== null && timeout * 1000 <= 2147483647) { // longer than setTimeout's range: no limit
      const timedOut = new Promise((resolve) => {
        timer = setTimeout(resolve, timeout * 1000, RESPONSE);
      });
      output = await Promise.race([run, timedOut]);
      if (output === RESPONSE) {
        run.catch(() => {}); // the function keeps running; its late outcome is ignored
        logger.error([MSG_TIMED_OUT]);
        return failure(500);
      }
    } else {
      output = await run;
    }
  } catch (err) {
    logger.error([err instanceof Error ? err.stack || String(err) : stringify(err)]);
    return failure(500);
  } finally {
    if (timer) clearTimeout(timer);
  }

  if (output === undefined || output === null) {
    logger.error([MSG_NO_RETURN]);
    return failure(500);
  }
  if (typeof output !== 'object' || Buffer.isBuffer(output)) {
    // Tolerate a bare value: treat it as the body.
    output = makeOutput(output, 200, {});
  }
  const statusCode = output.statusCode === undefined ? 200 : Number(output.statusCode);
  return {
    statusCode: Number.isInteger(statusCode) ? statusCode : 500,
    headers: output.headers && typeof output.headers === 'object' ? output.headers : {},
    body: toBuffer(output.body === undefined ? '' : output.body),
  };
}

// Errors escaping the function after it returned (or outside any request) must not kill the server.
process.on('unhandledRejection', (reason) => {
  const logger = requestStore.getStore();
  const text = reason instanceof Error ? reason.stack || String(reason) : stringify(reason);
  if (logger && logger.open) logger.error([text]);
  else nativeConsole.error(`[runtime] unhandled rejection: ${text}`);
});
process.on('uncaughtException', (err) => {
  const logger = requestStore.getStore();
  const text = err instanceof Error ? err.stack || String(err) : stringify(err);
  if (logger && logger.open) logger.error([text]);
  else nativeConsole.error(`[runtime] uncaught exception: ${text}`);
});

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    nativeConsole.error(`[runtime] request failed: ${err && err.stack}`);
    if (!res.headersSent) sendPlain(res, 500, 'Internal runtime error.');
    else res.destroy();
  });
});
server.keepAliveTimeout = 120 * 1000;
server.headersTimeout = 125 * 1000;
server.requestTimeout = 0; // function timeouts are enforced per request via x-open-runtimes-timeout

server.listen(PORT, HOST, () => {
  timings.startup = Number(process.hrtime.bigint() - BOOT_TIME) / 1e6;
  nativeConsole.log('HTTP server successfully started!');
  // Warm the module cache so the first execution does not pay for loading the entrypoint. Load
  // failures are reported (in that request's errors) when a request retries the load.
  loadFunction(new Logger(false, 'warmup')).catch(() => {});
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
