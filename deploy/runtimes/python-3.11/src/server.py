# fnplat Python runtime server: open-runtimes v5 protocol (docs spec 7.4-7.8, 9).
# Standard library only. Serves HTTP on 0.0.0.0:3000 and runs `main(context)` (sync or async) of the
# module at src/function/$OPEN_RUNTIMES_ENTRYPOINT for every request.
import asyncio
import contextvars
import http.server
import importlib.util
import inspect
import json
import os
import random
import re
import site
import socketserver
import sys
import threading
import time
import traceback
import urllib.parse

BOOT_TIME = time.monotonic()
PORT = 3000
HOST = "0.0.0.0"
SERVER_DIR = os.path.dirname(os.path.abspath(__file__))
FUNCTION_DIR = os.path.join(SERVER_DIR, "function")
LOGS_DIR = os.environ.get("OPEN_RUNTIMES_LOGS_DIR", "/mnt/logs")
MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_LOG_CHARS = 8000
HEADER_PREFIX = "x-open-runtimes-"

MSG_UNAUTHORIZED = 'Unauthorized. Provide correct "x-open-runtimes-secret" header.'
MSG_BAD_TIMEOUT = 'Header "x-open-runtimes-timeout" must be an integer greater than 0.'
MSG_NATIVE_LOGS = "Native logs detected. Use context.log() or context.error() for better experience."
MSG_SIGNATURE = "Function signature invalid. Did you forget to export a 'main' function?"
MSG_NO_RETURN = "Return statement missing. return context.res.empty() if no response is expected."
MSG_TIMED_OUT = "Execution timed out."
MSG_LOG_TRUNCATED = "... Log truncated due to size limit (%d characters)" % MAX_LOG_CHARS

timings = {"startup": None, "entrypoint_load": None}

# ------------------------------------------------------------------------------------------------
# Logging: every request gets a Logger; native print()/sys.stdout/sys.stderr writes made while the
# function runs are attributed to the request through a context variable.

current_logger = contextvars.ContextVar("fnplat_logger", default=None)


def stringify(value):
    if isinstance(value, str):
        return value
    if isinstance(value, BaseException):
        return "".join(traceback.format_exception(type(value), value, value.__traceback__)).rstrip("\n")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (dict, list, tuple, bool, int, float)) or value is None:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return repr(value)
    return str(value)


def format_line(args):
    line = " ".join(stringify(a) for a in args)
    if len(line) > MAX_LOG_CHARS:
        line = line[:MAX_LOG_CHARS] + MSG_LOG_TRUNCATED
    return line


class Logger:
    def __init__(self, enabled, log_id):
        self.enabled = enabled
        self.id = log_id
        self.open = True
        self.logs = []
        self.errors = []
        self.native_used = False
        self.native_partial = ""
        self.lock = threading.Lock()

    def log(self, args):
        with self.lock:
            if self.open and self.enabled:
                self._end_native()
                self.logs.append(format_line(args))

    def error(self, args):
        with self.lock:
            if self.open and self.enabled:
                self.errors.append(format_line(args))

    def native(self, text):
        with self.lock:
            if not self.open or not self.enabled:
                return
            self.native_used = True
            text = self.native_partial + text
            lines = text.split("\n")
            self.native_partial = lines.pop()
            for line in lines:
                self.logs.append(line[:MAX_LOG_CHARS] + MSG_LOG_TRUNCATED if len(line) > MAX_LOG_CHARS else line)

    def _end_native(self):
        if self.native_partial:
            self.logs.append(self.native_partial)
            self.native_partial = ""

    def flush(self):
        """Writes (appends) both files once, before the response is sent. Later calls are dropped."""
        with self.lock:
            if not self.open:
                return
            self.open = False
            if not self.enabled:
                return
            self._end_native()
            logs = ([MSG_NATIVE_LOGS] if self.native_used else []) + self.logs
            errors = self.errors
        base = os.path.join(LOGS_DIR, self.id)
        try:
            os.makedirs(LOGS_DIR, exist_ok=True)
            with open(base + "_logs.log", "a", encoding="utf-8", errors="replace") as f:
                f.write("".join(line + "\n" for line in logs))
            with open(base + "_errors.log", "a", encoding="utf-8", errors="replace") as f:
                f.write("".join(line + "\n" for line in errors))
        except OSError as err:
            REAL_STDERR.write("[runtime] failed to write log files for %s: %s\n" % (self.id, err))


class NativeStream:
    """Replaces sys.stdout/sys.stderr: writes made on behalf of a request go to its logs."""

    def __init__(self, real):
        self._real = real

    def write(self, text):
        logger = current_logger.get()
        if logger is not None and logger.open:
            if isinstance(text, (bytes, bytearray)):
                text = bytes(text).decode("utf-8", errors="replace")
            logger.native(str(text))
            return len(text)
        return self._real.write(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if current_logger.get() is None:
            self._real.flush()

    def isatty(self):
        return False

    def __getattr__(self, name):
        return getattr(self._real, name)


REAL_STDOUT = sys.stdout
REAL_STDERR = sys.stderr
sys.stdout = NativeStream(REAL_STDOUT)
sys.stderr = NativeStream(REAL_STDERR)

_last_log_time = 0
_log_id_lock = threading.Lock()


def generate_log_id():
    global _last_log_time
    if os.environ.get("OPEN_RUNTIMES_ENV") == "development":
        return "dev"
    # uniqid-like: microseconds since epoch in hex, strictly increasing, plus a random suffix.
    with _log_id_lock:
        micros = time.time_ns() // 1000
        if micros <= _last_log_time:
            micros = _last_log_time + 1
        _last_log_time = micros
    return "%x%06x" % (micros, random.getrandbits(24))


def sanitize_log_id(log_id):
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", log_id)
    clean = re.sub(r"^\.+", "_", clean)[:128]
    return clean or generate_log_id()


# ------------------------------------------------------------------------------------------------
# Entrypoint loading (cached after the first success).


class LoadError(Exception):
    pass


_cached_main = None
_load_lock = threading.Lock()


def add_dependency_paths():
    """Puts the function dir and the packed virtualenv's site-packages on sys.path."""
    if FUNCTION_DIR not in sys.path:
        sys.path.insert(0, FUNCTION_DIR)
    venv_lib = os.path.join(FUNCTION_DIR, "runtime-env", "lib")
    if os.path.isdir(venv_lib):
        for name in sorted(os.listdir(venv_lib)):
            packages = os.path.join(venv_lib, name, "site-packages")
            if os.path.isdir(packages):
                site.addsitedir(packages)
                # addsitedir appends: the function's own dependencies win over the image's.
                sys.path.remove(packages)
                sys.path.insert(1, packages)


def load_main(logger):
    global _cached_main
    if _cached_main is not None:
        return _cached_main
    with _load_lock:
        if _cached_main is not None:
            return _cached_main
        entrypoint = os.environ.get("OPEN_RUNTIMES_ENTRYPOINT", "")
        file = os.path.normpath(os.path.join(FUNCTION_DIR, entrypoint))
        if not entrypoint or not os.path.isfile(file):
            raise LoadError("Failed to load entrypoint, file %s does not exist." % entrypoint)
        started = time.monotonic()
        add_dependency_paths()
        # module `function.<entrypoint path without .py, / -> .>` like the official images
        rel = os.path.relpath(file, FUNCTION_DIR)
        name = "function." + re.sub(r"\.py$", "", rel).replace(os.sep, ".")
        entry_dir = os.path.dirname(file)
        if entry_dir not in sys.path:
            sys.path.insert(1, entry_dir)
        try:
            spec = importlib.util.spec_from_file_location(name, file)
            if spec is None or spec.loader is None:
                raise ImportError("cannot load %s" % file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except BaseException as err:  # SyntaxError, ImportError, SystemExit raised at import time...
            sys.modules.pop(name, None)
            logger.error([err])
            raise LoadError(None) from err
        fn = getattr(module, "main", None)
        if not callable(fn):
            raise LoadError(MSG_SIGNATURE)
        timings["entrypoint_load"] = (time.monotonic() - started) * 1000
        _cached_main = fn
        return fn


# ------------------------------------------------------------------------------------------------
# Context API.


class Request:
    def __init__(self, method, raw_path, headers, body):
        q = raw_path.find("?")
        self.path = raw_path if q == -1 else raw_path[:q]
        self.query_string = "" if q == -1 else raw_path[q + 1:]
        query = {}
        for part in self.query_string.split("&"):
            if part == "":
                continue
            key, _, value = part.partition("=")
            query.setdefault(key, value)
        self.query = query
        self.headers = headers
        self.method = method
        scheme = headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
        self.scheme = scheme
        default_port = 443 if scheme == "https" else 80
        host_header = headers.get("host", "")
        host, port = host_header, default_port
        m = re.match(r"^(\[[^\]]*\]|[^:]*)(?::(\d+))?$", host_header)
        if m:
            host = m.group(1)
            if m.group(2) is not None:
                port = int(m.group(2))
        self.host = host
        self.port = port
        port_part = "" if port == default_port else ":%d" % port
        self.url = "%s://%s%s%s%s" % (
            scheme, host, port_part, self.path, "?" + self.query_string if self.query_string else "")
        self.body_binary = body
        self._text = None

    @property
    def body_text(self):
        if self._text is None:
            self._text = self.body_binary.decode("utf-8", errors="replace")
        return self._text

    @property
    def body_raw(self):
        return self.body_text

    @property
    def body_json(self):
        return json.loads(self.body_text)

    @property
    def body(self):
        if self.headers.get("content-type", "").lower().startswith("application/json"):
            return {} if self.body_text == "" else json.loads(self.body_text)
        return self.body_text

    # camelCase aliases, for code ported from the Node runtime
    bodyBinary = property(lambda self: self.body_binary)
    bodyText = property(lambda self: self.body_text)
    bodyRaw = property(lambda self: self.body_text)
    bodyJson = property(lambda self: self.body_json)
    queryString = property(lambda self: self.query_string)


class Output(dict):
    """What the res.* helpers return: {'body': bytes|str, 'statusCode': int, 'headers': dict}."""


def _status(status_code, kwargs, default):
    if "status_code" in kwargs:
        return kwargs.pop("status_code")
    if "status" in kwargs:
        return kwargs.pop("status")
    return default if status_code is None else status_code


def to_bytes(body):
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (dict, list)):
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
    return str(body).encode("utf-8")


class Response:
    def send(self, body, statusCode=None, headers=None, **kw):
        return Output(body=body, statusCode=_status(statusCode, kw, 200), headers=dict(headers or {}))

    def text(self, body, statusCode=None, headers=None, **kw):
        return Output(body="" if body is None else str(body), statusCode=_status(statusCode, kw, 200),
                      headers=dict(headers or {}))

    def binary(self, bytes_, statusCode=None, headers=None, **kw):
        return Output(body=to_bytes(bytes_), statusCode=_status(statusCode, kw, 200), headers=dict(headers or {}))

    def json(self, obj, statusCode=None, headers=None, **kw):
        h = dict(headers or {})
        if not any(k.lower() == "content-type" for k in h):
            h["content-type"] = "application/json"
        return Output(body=json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str),
                      statusCode=_status(statusCode, kw, 200), headers=h)

    def empty(self):
        return Output(body="", statusCode=204, headers={})

    def redirect(self, url, statusCode=None, headers=None, **kw):
        h = dict(headers or {})
        h["location"] = url
        return Output(body="", statusCode=_status(statusCode, kw, 301), headers=h)


class Context:
    def __init__(self, req, logger):
        self.req = req
        self.res = Response()
        self._logger = logger

    def log(self, *messages):
        self._logger.log(messages)

    def error(self, *messages):
        self._logger.error(messages)


# ------------------------------------------------------------------------------------------------
# Execution: the function runs in its own thread (async functions on the shared event loop) so a
# timeout can answer while it keeps running; its late outcome is ignored.

LOOP = asyncio.new_event_loop()
threading.Thread(target=LOOP.run_forever, name="fnplat-async", daemon=True).start()


def execute(context, logger, timeout):
    def failure(status):
        return {"statusCode": status, "headers": {}, "body": b""}

    try:
        fn = load_main(logger)
    except LoadError as err:
        if err.args and err.args[0]:
            logger.error([err.args[0]])
        return failure(503)
    except BaseException as err:
        logger.error([err])
        return failure(503)

    done = threading.Event()
    outcome = {}

    def run():
        token = current_logger.set(logger)
        try:
            result = fn(context)
            if inspect.isawaitable(result):
                outcome["future"] = asyncio.run_coroutine_threadsafe(_await(result), LOOP)
                result = outcome["future"].result()
            outcome["result"] = result
        except BaseException as err:  # noqa: BLE001 - the function's failure is reported, not raised
            outcome["error"] = err
        finally:
            current_logger.reset(token)
            done.set()

    threading.Thread(target=run, name="fnplat-exec-" + logger.id, daemon=True).start()
    if not done.wait(timeout):
        future = outcome.get("future")
        if future is not None:
            future.cancel()
        logger.error([MSG_TIMED_OUT])
        return failure(500)

    if "error" in outcome:
        err = outcome["error"]
        logger.error([err])
        return failure(500)
    output = outcome.get("result")
    if output is None:
        logger.error([MSG_NO_RETURN])
        return failure(500)
    if not isinstance(output, dict):
        output = Output(body=output, statusCode=200, headers={})  # tolerate a bare value: it is the body
    try:
        status = int(output.get("statusCode", output.get("status_code", 200)))
    except (TypeError, ValueError):
        status = 500
    headers = output.get("headers")
    return {
        "statusCode": status,
        "headers": headers if isinstance(headers, dict) else {},
        "body": to_bytes(output.get("body", "")),
    }


async def _await(awaitable):
    return await awaitable


# ------------------------------------------------------------------------------------------------
# HTTP plumbing.


def enforced_headers():
    raw = os.environ.get("OPEN_RUNTIMES_HEADERS", "")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body are separate writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms
    disable_nagle_algorithm = True
    server_version = "fnplat-python"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - no access log
        pass

    def send_plain(self, status, message, extra=None):
        body = message.encode("utf-8")
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("content-type", "text/plain; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            # Say so: a client that reuses the connection would otherwise race the close.
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def header(self, name):
        values = self.headers.get_all(name) or []
        return ", ".join(values)

    def read_body(self):
        if "chunked" in self.header("transfer-encoding").lower():
            chunks, size = [], 0
            while True:
                line = self.rfile.readline(65537)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                size += n
                if size > MAX_BODY_BYTES:
                    raise ValueError("Request body exceeds %d bytes." % MAX_BODY_BYTES)
                chunks.append(self.rfile.read(n))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = self.header("content-length").strip()
        n = int(length) if length.isdigit() else 0
        if n > MAX_BODY_BYTES:
            raise ValueError("Request body exceeds %d bytes." % MAX_BODY_BYTES)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        path = self.path.split("?", 1)[0]
        if self.command == "GET" and path == "/__opr/health":
            return self.send_plain(200, "OK")
        if self.command == "GET" and path == "/__opr/timings":
            lines = ["startup=%s" % timings["startup"]]
            if timings["entrypoint_load"] is not None:
                lines.append("entrypoint_load=%s" % timings["entrypoint_load"])
            return self.send_plain(200, "\n".join(lines) + "\n")

        secret = os.environ.get("OPEN_RUNTIMES_SECRET", "")
        if secret != "" and self.header("x-open-runtimes-secret") != secret:
            self.close_connection = True
            return self.send_plain(500, MSG_UNAUTHORIZED)

        timeout = None
        raw_timeout = self.header("x-open-runtimes-timeout").strip()
        if raw_timeout != "":
            if not re.fullmatch(r"[0-9]+", raw_timeout) or int(raw_timeout) <= 0:
                self.close_connection = True
                return self.send_plain(500, MSG_BAD_TIMEOUT)
            timeout = int(raw_timeout)

        logging_enabled = self.header("x-open-runtimes-logging").strip().lower() != "disabled"
        requested = self.header("x-open-runtimes-log-id").strip()
        log_id = sanitize_log_id(requested) if requested else generate_log_id()
        logger = Logger(logging_enabled, log_id)
        runtime_headers = {"x-open-runtimes-log-id": urllib.parse.quote(log_id, safe="")}

        try:
            body = self.read_body()
        except ValueError as err:
            self.close_connection = True
            return self.send_plain(500, str(err), runtime_headers)

        # Headers the function sees: lower-cased, without x-open-runtimes-*, then OPEN_RUNTIMES_HEADERS.
        headers = {}
        for key in self.headers.keys():
            k = key.lower()
            if k.startswith(HEADER_PREFIX) or k in headers:
                continue
            headers[k] = self.header(key)
        for key, value in enforced_headers().items():
            headers[str(key).lower()] = "" if value is None else str(value)

        context = Context(Request(self.command, self.path, headers, body), logger)
        result = execute(context, logger, timeout)
        logger.flush()

        out = {}
        for key, value in result["headers"].items():
            k = str(key).lower()
            if k.startswith(HEADER_PREFIX) or k in ("content-length", "transfer-encoding", "connection"):
                continue
            if value is None:
                continue
            out[k] = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        content_type = ", ".join(out.get("content-type", [])) or "text/plain"
        if not content_type.lower().startswith("multipart/") and "charset=" not in content_type.lower():
            content_type += "; charset=utf-8"
        out["content-type"] = [content_type]
        for k, v in runtime_headers.items():
            out[k] = [v]
        payload = b"" if self.command == "HEAD" else result["body"]
        status = result["statusCode"]
        if not 100 <= status <= 999:
            REAL_STDERR.write("[runtime] invalid status code from function: %r\n" % status)
            return self.send_plain(500, "", runtime_headers)
        self.send_response(status)
        for k, values in out.items():
            for v in values:
                self.send_header(k, v.replace("\r", " ").replace("\n", " "))
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def handle_one_request(self):
        # BaseHTTPRequestHandler dispatches to do_<METHOD>: accept any method.
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            try:
                self.handle_any()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception:  # noqa: BLE001 - a runtime bug must not kill the connection thread silently
                REAL_STDERR.write("[runtime] request failed: %s\n" % traceback.format_exc())
                self.close_connection = True
                try:
                    self.send_plain(500, "Internal runtime error.")
                except OSError:
                    pass
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    server = Server((HOST, PORT), Handler)
    timings["startup"] = (time.monotonic() - BOOT_TIME) * 1000
    REAL_STDOUT.write("HTTP server successfully started!\n")
    REAL_STDOUT.flush()

    # Warm the module cache so the first execution does not pay for loading the entrypoint. Load
    # failures are reported (in that request's errors) when a request retries the load.
    def warm():
        try:
            load_main(Logger(False, "warmup"))
        except BaseException:  # noqa: BLE001
            pass

    threading.Thread(target=warm, daemon=True).start()

    import signal

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
