<?php
// fnplat PHP runtime server: open-runtimes v5 protocol (spec §7.4-7.8, §9).
// Router script of PHP's built-in CLI server (`php -S 0.0.0.0:3000 src/server.php`, started by
// helpers/server.sh): it runs once per request, in a fresh request state, so the function file is
// loaded anew for every execution (PHP's usual share-nothing model). Concurrency comes from
// PHP_CLI_SERVER_WORKERS forked workers, each serving one request at a time.
// Only what Debian's php-cli ships: no extensions beyond pcntl (timeouts) and json.

declare(strict_types=1);

namespace Fnplat\Runtime;

const FUNCTION_DIR = __DIR__ . '/function';
const MAX_LOG_CHARS = 8000;
const HEADER_PREFIX = 'x-open-runtimes-';
const MSG_UNAUTHORIZED = 'Unauthorized. Provide correct "x-open-runtimes-secret" header.';
const MSG_BAD_TIMEOUT = 'Header "x-open-runtimes-timeout" must be an integer greater than 0.';
const MSG_NATIVE_LOGS = 'Native logs detected. Use context.log() or context.error() for better experience.';
const MSG_SIGNATURE = 'Function signature invalid. Did you forget to return a function from the entrypoint file?';
const MSG_NO_RETURN = 'Return statement missing. return context.res.empty() if no response is expected.';
const MSG_TIMED_OUT = 'Execution timed out.';

function stringify(mixed $value): string
{
    if (is_string($value)) {
        return $value;
    }
    if ($value instanceof \Throwable) {
        return (string) $value;
    }
    if ($value === null) {
        return 'null';
    }
    if (is_bool($value)) {
        return $value ? 'true' : 'false';
    }
    if (is_int($value) || is_float($value)) {
        return (string) $value;
    }
    if (is_object($value) && method_exists($value, '__toString') && !($value instanceof \JsonSerializable)) {
        return (string) $value;
    }
    $json = json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PARTIAL_OUTPUT_ON_ERROR);
    return $json === false ? print_r($value, true) : $json;
}

function formatLine(array $args): string
{
    $line = implode(' ', array_map(__NAMESPACE__ . '\stringify', $args));
    $mb = function_exists('mb_strlen');
    if (($mb ? mb_strlen($line, 'UTF-8') : strlen($line)) > MAX_LOG_CHARS) {
        $line = ($mb ? mb_substr($line, 0, MAX_LOG_CHARS, 'UTF-8') : substr($line, 0, MAX_LOG_CHARS))
            . '... Log truncated due to size limit (' . MAX_LOG_CHARS . ' characters)';
    }
    return $line;
}

final class Logger
{
    public bool $open = true;
    private array $logs = [];
    private array $errors = [];
    private bool $nativeUsed = false;
    private string $nativePartial = '';

    public function __construct(public readonly bool $enabled, public readonly string $id)
    {
    }

    public function log(array $args): void
    {
        if ($this->open && $this->enabled) {
            $this->flushNativePartial();
            $this->logs[] = formatLine($args);
        }
    }

    public function error(array $args): void
    {
        if ($this->open && $this->enabled) {
            $this->errors[] = formatLine($args);
        }
    }

    // echo/print/printf/var_dump output, delivered by the output buffer callback in order.
    public function native(string $chunk): void
    {
        if (!$this->open || !$this->enabled || $chunk === '') {
            return;
        }
        $this->nativeUsed = true;
        $text = $this->nativePartial . $chunk;
        $lines = explode("\n", $text);
        $this->nativePartial = array_pop($lines);
        foreach ($lines as $line) {
            $this->logs[] = formatLine([$line]);
        }
    }

    private function flushNativePartial(): void
    {
        if ($this->nativePartial !== '') {
            $this->logs[] = formatLine([$this->nativePartial]);
            $this->nativePartial = '';
        }
    }

    // Appends both files once; later log calls are dropped.
    public function flush(): void
    {
        if (!$this->open) {
            return;
        }
        $this->flushNativePartial();
        $this->open = false;
        if (!$this->enabled) {
            return;
        }
        $logs = $this->nativeUsed ? array_merge([MSG_NATIVE_LOGS], $this->logs) : $this->logs;
        $toText = static fn (array $lines): string => implode('', array_map(static fn ($l) => $l . "\n", $lines));
        $dir = getenv('OPEN_RUNTIMES_LOGS_DIR') ?: '/mnt/logs';
        if (!is_dir($dir)) {
            @mkdir($dir, 0777, true);
        }
        $base = $dir . '/' . $this->id;
        if (@file_put_contents($base . '_logs.log', $toText($logs), FILE_APPEND) === false
            || @file_put_contents($base . '_errors.log', $toText($this->errors), FILE_APPEND) === false) {
            error_log("[runtime] failed to write log files for {$this->id}");
        }
    }
}

final class Request
{
    public string $bodyBinary;
    public array $headers;
    public string $method;
    public string $scheme;
    public string $host;
    public int $port;
    public string $path;
    public string $queryString;
    public array $query;
    public string $url;

    public function __construct(string $body, array $headers, string $method, string $uri)
    {
        $this->bodyBinary = $body;
        $this->headers = $headers;
        $this->method = $method;
        $q = strpos($uri, '?');
        $this->path = $q === false ? $uri : substr($uri, 0, $q);
        $this->queryString = $q === false ? '' : substr($uri, $q + 1);
        // First-level key=value pairs, not URL-decoded (same as the Node runtime); first key wins.
        $this->query = [];
        foreach (explode('&', $this->queryString) as $part) {
            if ($part === '') {
                continue;
            }
            $eq = strpos($part, '=');
            $key = $eq === false ? $part : substr($part, 0, $eq);
            $value = $eq === false ? '' : substr($part, $eq + 1);
            if (!array_key_exists($key, $this->query)) {
                $this->query[$key] = $value;
            }
        }
        $proto = trim(explode(',', $headers['x-forwarded-proto'] ?? 'http')[0]);
        $this->scheme = $proto === '' ? 'http' : $proto;
        $defaultPort = $this->scheme === 'https' ? 443 : 80;
        $hostHeader = $headers['host'] ?? '';
        $this->host = $hostHeader;
        $this->port = $defaultPort;
        if (preg_match('/^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/', $hostHeader, $m)) {
            $this->host = $m[1];
            if (isset($m[2]) && $m[2] !== '') {
                $this->port = (int) $m[2];
            }
        }
        $portPart = $this->port === $defaultPort ? '' : ':' . $this->port;
        $this->url = $this->scheme . '://' . $this->host . $portPart . $this->path
            . ($this->queryString !== '' ? '?' . $this->queryString : '');
    }

    // bodyText, bodyRaw (alias), bodyJson (throws \JsonException on invalid JSON), body.
    public function __get(string $name): mixed
    {
        switch ($name) {
            case 'bodyText':
            case 'bodyRaw':
                return $this->bodyBinary;
            case 'bodyJson':
                return json_decode($this->bodyBinary, true, 512, JSON_THROW_ON_ERROR);
            case 'body':
                $contentType = strtolower($this->headers['content-type'] ?? '');
                if (str_starts_with($contentType, 'application/json')) {
                    return $this->bodyBinary === '' ? [] : $this->bodyJson;
                }
                return $this->bodyBinary;
        }
        trigger_error('Undefined property: ' . self::class . '::$' . $name, E_USER_WARNING);
        return null;
    }

    public function __isset(string $name): bool
    {
        return in_array($name, ['bodyText', 'bodyRaw', 'bodyJson', 'body'], true);
    }
}

final class Output
{
    public function __construct(public mixed $body, public int $statusCode = 200, public array $headers = [])
    {
    }
}

final class Response
{
    public function send(mixed $body, int $statusCode = 200, array $headers = []): Output
    {
        return new Output($body, $statusCode, $headers);
    }

    public function text(mixed $body, int $statusCode = 200, array $headers = []): Output
    {
        return new Output($body === null ? '' : stringify($body), $statusCode, $headers);
    }

    public function binary(string $bytes, int $statusCode = 200, array $headers = []): Output
    {
        return new Output($bytes, $statusCode, $headers);
    }

    public function json(mixed $data, int $statusCode = 200, array $headers = []): Output
    {
        if (!hasHeader($headers, 'content-type')) {
            $headers['content-type'] = 'application/json';
        }
        return new Output(json_encode($data, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR), $statusCode, $headers);
    }

    public function empty(): Output
    {
        return new Output('', 204, []);
    }

    public function redirect(string $url, int $statusCode = 301, array $headers = []): Output
    {
        $headers['location'] = $url;
        return new Output('', $statusCode, $headers);
    }
}

final class Context
{
    public Request $req;
    public Response $res;

    public function __construct(Request $req, private Logger $logger)
    {
        $this->req = $req;
        $this->res = new Response();
    }

    public function log(mixed ...$args): void
    {
        $this->logger->log($args);
    }

    public function error(mixed ...$args): void
    {
        $this->logger->error($args);
    }
}

final class LoadError extends \Exception
{
}

function hasHeader(array $headers, string $name): bool
{
    foreach (array_keys($headers) as $k) {
        if (strtolower((string) $k) === $name) {
            return true;
        }
    }
    return false;
}

function headerValue(mixed $value): string
{
    if (is_array($value)) {
        return implode(', ', array_map('strval', $value));
    }
    return $value === null ? '' : (string) $value;
}

function bodyBytes(mixed $body): string
{
    if ($body === null) {
        return '';
    }
    if (is_string($body)) {
        return $body;
    }
    if (is_array($body) || is_object($body) && !method_exists($body, '__toString')) {
        return (string) json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    }
    return stringify($body);
}

function generateLogId(): string
{
    if (getenv('OPEN_RUNTIMES_ENV') === 'development') {
        return 'dev';
    }
    // uniqid-like (microseconds in hex) plus a random suffix: unique across forked workers.
    return uniqid() . bin2hex(random_bytes(3));
}

function sanitizeLogId(string $id): string
{
    $clean = substr(preg_replace('/^\.+/', '_', preg_replace('/[^A-Za-z0-9._-]/', '_', $id)), 0, 128);
    return $clean === '' ? generateLogId() : $clean;
}

function enforcedHeaders(): array
{
    $raw = getenv('OPEN_RUNTIMES_HEADERS');
    if ($raw === false || $raw === '') {
        return [];
    }
    $parsed = json_decode($raw, true);
    return is_array($parsed) && !array_is_list($parsed) ? $parsed : [];
}

function sendPlain(int $status, string $message, array $extra = []): void
{
    http_response_code($status);
    foreach ($extra as $k => $v) {
        header("$k: $v");
    }
    header('content-type: text/plain; charset=utf-8');
    header('content-length: ' . strlen($message));
    echo $message;
}

/** @return callable */
function loadFunction(): callable
{
    $entrypoint = (string) getenv('OPEN_RUNTIMES_ENTRYPOINT');
    $file = FUNCTION_DIR . '/' . ltrim($entrypoint, '/');
    if ($entrypoint === '' || !is_file($file)) {
        throw new LoadError("Failed to load entrypoint, file $entrypoint does not exist.");
    }
    $autoload = FUNCTION_DIR . '/vendor/autoload.php';
    if (is_file($autoload)) {
        require_once $autoload;
    }
    $fn = (static fn () => require $file)();
    if (!is_callable($fn)) {
        throw new LoadError(MSG_SIGNATURE);
    }
    return $fn;
}

// ---------------------------------------------------------------------------------------------
// Request handling.

final class State
{
    public static ?Logger $logger = null;
    public static array $runtimeHeaders = [];
    public static bool $responded = false;
}

function respondFailure(int $status): void
{
    $logger = State::$logger;
    if ($logger !== null) {
        $logger->flush();
    }
    while (ob_get_level() > 0) {
        ob_end_clean();
    }
    State::$responded = true;
    sendPlain($status, '', State::$runtimeHeaders);
}

function handle(): void
{
    $method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
    $uri = $_SERVER['REQUEST_URI'] ?? '/';
    $path = explode('?', $uri, 2)[0];

    $rawHeaders = [];
    foreach (getallheaders() as $k => $v) {
        $k = strtolower((string) $k);
        $rawHeaders[$k] = isset($rawHeaders[$k]) ? $rawHeaders[$k] . ', ' . $v : (string) $v;
    }

    if ($method === 'GET' && $path === '/__opr/health') {
        sendPlain(200, 'OK');
        return;
    }
    if ($method === 'GET' && $path === '/__opr/timings') {
        $startup = @file_get_contents('/tmp/.fnplat-startup-ms');
        sendPlain(200, 'startup=' . ($startup === false ? 'null' : trim($startup)) . "\n");
        return;
    }

    $secret = (string) getenv('OPEN_RUNTIMES_SECRET');
    if ($secret !== '' && ($rawHeaders['x-open-runtimes-secret'] ?? '') !== $secret) {
        sendPlain(500, MSG_UNAUTHORIZED);
        return;
    }

    $timeout = null;
    $rawTimeout = trim($rawHeaders['x-open-runtimes-timeout'] ?? '');
    if ($rawTimeout !== '') {
        if (!preg_match('/^\d+$/', $rawTimeout) || (int) $rawTimeout <= 0 || strlen(ltrim($rawTimeout, '0')) > 18) {
            sendPlain(500, MSG_BAD_TIMEOUT);
            return;
        }
        $timeout = (int) $rawTimeout;
    }

    $loggingEnabled = strtolower(trim($rawHeaders['x-open-runtimes-logging'] ?? '')) !== 'disabled';
    $requestedLogId = trim($rawHeaders['x-open-runtimes-log-id'] ?? '');
    $logId = $requestedLogId !== '' ? sanitizeLogId($requestedLogId) : generateLogId();
    $logger = new Logger($loggingEnabled, $logId);
    State::$logger = $logger;
    State::$runtimeHeaders = ['x-open-runtimes-log-id' => rawurlencode($logId)];

    $body = (string) file_get_contents('php://input');

    // Headers the function sees: lower-cased, without x-open-runtimes-*, then OPEN_RUNTIMES_HEADERS.
    $headers = [];
    foreach ($rawHeaders as $k => $v) {
        if (!str_starts_with($k, HEADER_PREFIX)) {
            $headers[$k] = $v;
        }
    }
    foreach (enforcedHeaders() as $k => $v) {
        $headers[strtolower((string) $k)] = headerValue($v);
    }

    $context = new Context(new Request($body, $headers, $method, $uri), $logger);

    // Native output (echo, print, var_dump, ...) goes to the logs, one line per line, in order.
    ob_start(static function (string $chunk) use ($logger): string {
        $logger->native($chunk);
        return '';
    }, 1);

    // Uncaught fatal errors (memory, parse errors in included files...) still answer 500.
    register_shutdown_function(static function () use ($logger): void {
        if (State::$responded) {
            return;
        }
        $err = error_get_last();
        if ($err !== null) {
            $logger->error([sprintf('PHP Fatal error: %s in %s:%d', $err['message'], $err['file'], $err['line'])]);
        }
        respondFailure(500);
    });

    // Warnings and notices raised by the function go to its errors.
    set_error_handler(static function (int $no, string $msg, string $file, int $line) use ($logger): bool {
        if (!(error_reporting() & $no)) {
            return false;
        }
        $kind = match ($no) {
            E_WARNING, E_USER_WARNING => 'Warning',
            E_NOTICE, E_USER_NOTICE => 'Notice',
            E_DEPRECATED, E_USER_DEPRECATED => 'Deprecated',
            default => 'Error',
        };
        $logger->error(["PHP $kind: $msg in $file:$line"]);
        return true;
    });

    try {
        $fn = loadFunction();
    } catch (LoadError $e) {
        $logger->error([$e->getMessage()]);
        respondFailure(503);
        return;
    } catch (\Throwable $e) {
        $logger->error([$e]);
        respondFailure(503);
        return;
    }

    if ($timeout !== null && function_exists('pcntl_alarm')) {
        pcntl_async_signals(true);
        pcntl_signal(SIGALRM, static function () use ($logger): void {
            $logger->error([MSG_TIMED_OUT]);
            respondFailure(500);
            exit(0);
        });
        pcntl_alarm($timeout);
    }

    try {
        $output = $fn($context);
    } catch (\Throwable $e) {
        if ($timeout !== null && function_exists('pcntl_alarm')) {
            pcntl_alarm(0);
        }
        $logger->error([$e]);
        respondFailure(500);
        return;
    }
    if ($timeout !== null && function_exists('pcntl_alarm')) {
        pcntl_alarm(0);
    }

    if ($output === null) {
        $logger->error([MSG_NO_RETURN]);
        respondFailure(500);
        return;
    }
    if (!($output instanceof Output)) {
        // Tolerate a bare value: treat it as the body.
        $output = new Output($output, 200, []);
    }

    $bytes = bodyBytes($output->body);
    $logger->flush();
    while (ob_get_level() > 0) {
        ob_end_clean();
    }
    restore_error_handler();
    State::$responded = true;

    $outHeaders = [];
    foreach ($output->headers as $k => $v) {
        $k = strtolower((string) $k);
        if (str_starts_with($k, HEADER_PREFIX) || $k === 'content-length' || $k === 'transfer-encoding' || $v === null) {
            continue;
        }
        $outHeaders[$k] = is_array($v) ? array_map('strval', $v) : [stringify($v)];
    }
    $contentType = isset($outHeaders['content-type']) ? implode(', ', $outHeaders['content-type']) : 'text/plain';
    if (!str_starts_with(strtolower($contentType), 'multipart/') && stripos($contentType, 'charset=') === false) {
        $contentType .= '; charset=utf-8';
    }
    $outHeaders['content-type'] = [$contentType];

    $status = $output->statusCode;
    if ($status < 100 || $status > 999) {
        error_log("[runtime] invalid status code $status returned by the function");
        sendPlain(500, '', State::$runtimeHeaders);
        return;
    }
    http_response_code($status);
    foreach ($outHeaders as $k => $values) {
        $first = true;
        foreach ($values as $v) {
            header($k . ': ' . str_replace(["\r", "\n"], ' ', $v), $first);
            $first = false;
        }
    }
    foreach (State::$runtimeHeaders as $k => $v) {
        header("$k: $v");
    }
    if ($method === 'HEAD') {
        header('content-length: 0');
        return;
    }
    header('content-length: ' . strlen($bytes));
    echo $bytes;
}

header_remove('X-Powered-By');
handle();
