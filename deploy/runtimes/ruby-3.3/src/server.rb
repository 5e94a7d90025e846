# frozen_string_literal: true

# fnplat Ruby runtime server: open-runtimes v5 protocol (spec §7.4-7.8, §9).
# Standard library only (socket, json, securerandom, stringio): a small HTTP/1.1 server on
# 0.0.0.0:3000 with one thread per connection (keep-alive, chunked request bodies, Expect:
# 100-continue). Every execution runs the function's top-level `main(context)` in its own thread so
# x-open-runtimes-timeout can stop it.

require 'socket'
require 'json'
require 'securerandom'
require 'stringio'

module Fnplat
  module Runtime
    BOOT = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    PORT = 3000
    HOST = '0.0.0.0'
    FUNCTION_DIR = File.expand_path('function', __dir__)
    LOGS_DIR = ENV.fetch('OPEN_RUNTIMES_LOGS_DIR', '/mnt/logs')
    MAX_BODY_BYTES = 20 * 1024 * 1024
    MAX_HEADER_BYTES = 64 * 1024
    MAX_LOG_CHARS = 8000
    KEEP_ALIVE_SECONDS = 120
    HEADER_PREFIX = 'x-open-runtimes-'

    MSG_UNAUTHORIZED = 'Unauthorized. Provide correct "x-open-runtimes-secret" header.'
    MSG_BAD_TIMEOUT = 'Header "x-open-runtimes-timeout" must be an integer greater than 0.'
    MSG_NATIVE_LOGS = 'Native logs detected. Use context.log() or context.error() for better experience.'
    MSG_SIGNATURE = "Function signature invalid. Did you forget to export a 'main' function?"
    MSG_NO_RETURN = 'Return statement missing. return context.res.empty() if no response is expected.'
    MSG_TIMED_OUT = 'Execution timed out.'
    MSG_LOG_TRUNCATED = "... Log truncated due to size limit (#{MAX_LOG_CHARS} characters)"

    REASONS = {
      100 => 'Continue', 200 => 'OK', 201 => 'Created', 202 => 'Accepted', 204 => 'No Content',
      206 => 'Partial Content', 301 => 'Moved Permanently', 302 => 'Found', 303 => 'See Other',
      304 => 'Not Modified', 307 => 'Temporary Redirect', 308 => 'Permanent Redirect', 400 => 'Bad Request',
      401 => 'Unauthorized', 403 => 'Forbidden', 404 => 'Not Found', 405 => 'Method Not Allowed',
      409 => 'Conflict', 413 => 'Payload Too Large', 418 => "I'm a teapot", 422 => 'Unprocessable Entity',
      429 => 'Too Many Requests', 500 => 'Internal Server Error', 501 => 'Not Implemented',
      502 => 'Bad Gateway', 503 => 'Service Unavailable', 504 => 'Gateway Timeout'
    }.freeze

    @timings = { startup: nil, entrypoint_load: nil }
    class << self
      attr_reader :timings
    end

    def self.stringify(value)
      case value
      when String then value
      when Exception then value.full_message(highlight: false, order: :top).chomp
      when nil then 'nil'
      when Hash, Array
        begin
          JSON.generate(value)
        rescue StandardError
          value.inspect
        end
      else value.to_s
      end
    end

    def self.format_line(args)
      line = args.map { |a| stringify(a) }.join(' ')
      line = line.dup.force_encoding(Encoding::UTF_8)
      line = line.scrub unless line.valid_encoding?
      line = line[0, MAX_LOG_CHARS] + MSG_LOG_TRUNCATED if line.length > MAX_LOG_CHARS
      line
    end

    # Collects one execution's logs and errors; written once to /mnt/logs/<id>_{logs,errors}.log.
    class Logger
      attr_reader :id

      def initialize(enabled, id)
        @enabled = enabled
        @id = id
        @open = true
        @logs = []
        @errors = []
        @native_used = false
        @native_partial = +''
        @lock = Mutex.new
      end

      def open?
        @open
      end

      def log(args)
        @lock.synchronize do
          next unless @open && @enabled

          flush_partial
          @logs << Runtime.format_line(args)
        end
      end

      def error(args)
        @lock.synchronize { @errors << Runtime.format_line(args) if @open && @enabled }
      end

      # puts/print/p/warn output of the function, split into lines.
      def native(text)
        @lock.synchronize do
          next unless @open && @enabled && !text.empty?

          @native_used = true
          lines = (@native_partial + text.b).split("\n", -1)
          @native_partial = lines.pop || +''
          lines.each { |l| @logs << Runtime.format_line([l]) }
        end
      end

      def flush
        logs = errors = nil
        @lock.synchronize do
          return unless @open

          flush_partial
          @open = false
          return unless @enabled

          logs = @native_used ? [MSG_NATIVE_LOGS] + @logs : @logs
          errors = @errors
        end
        base = File.join(LOGS_DIR, @id)
        begin
          Dir.mkdir(LOGS_DIR) unless Dir.exist?(LOGS_DIR)
          File.open("#{base}_logs.log", 'ab') { |f| f.write(logs.map { |l| "#{l}\n" }.join) }
          File.open("#{base}_errors.log", 'ab') { |f| f.write(errors.map { |l| "#{l}\n" }.join) }
        rescue StandardError => e
          NATIVE_STDERR.write("[runtime] failed to write log files for #{@id}: #{e.message}\n")
        end
      end

      private

      def flush_partial
        return if @native_partial.empty?

        @logs << Runtime.format_line([@native_partial])
        @native_partial = +''
      end
    end

    # $stdout / $stderr replacement: output of a function thread goes to its logger.
    class NativeOutput
      def initialize(io)
        @io = io
      end

      def logger
        l = Thread.current[:fnplat_logger]
        l if l&.open?
      end

      def write(*args)
        text = args.map(&:to_s).join
        if (l = logger)
          l.native(text)
        else
          @io.write(text)
        end
        text.bytesize
      end

      def <<(obj)
        write(obj)
        self
      end

      def puts(*args)
        s = StringIO.new
        s.puts(*args)
        write(s.string)
        nil
      end

      def print(*args)
        s = StringIO.new
        s.print(*args)
        write(s.string)
        nil
      end

      def printf(*args)
        write(format(*args))
        nil
      end

      def putc(ch)
        write(ch.is_a?(Integer) ? ch.chr : ch.to_s[0])
        ch
      end

      def flush
        @io.flush unless logger
        self
      end

      def sync
        true
      end

      def sync=(_value); end

      def tty?
        false
      end
      alias isatty tty?

      def fileno
        @io.fileno
      end

      def respond_to_missing?(name, include_private = false)
        @io.respond_to?(name, include_private) || super
      end

      def method_missing(name, *args, &block)
        @io.respond_to?(name) ? @io.public_send(name, *args, &block) : super
      end
    end

    NATIVE_STDOUT = $stdout
    NATIVE_STDERR = $stderr

    class Request
      attr_reader :body_binary, :headers, :method, :scheme, :host, :port, :path, :query_string, :query, :url

      def initialize(body, headers, method, target)
        @body_binary = body.b
        @headers = headers
        @method = method
        @path, _, @query_string = target.partition('?')
        # First-level key=value pairs, not URL-decoded (same as the Node runtime); first key wins.
        @query = {}
        @query_string.split('&').each do |part|
          next if part.empty?

          key, sep, value = part.partition('=')
          @query[key] = (sep.empty? ? '' : value) unless @query.key?(key)
        end
        proto = (headers['x-forwarded-proto'] || 'http').split(',').first.to_s.strip
        @scheme = proto.empty? ? 'http' : proto
        default_port = @scheme == 'https' ? 443 : 80
        host_header = headers['host'] || ''
        @host = host_header
        @port = default_port
        if (m = /\A(\[[^\]]*\]|[^:]*)(?::(\d+))?\z/.match(host_header))
          @host = m[1]
          @port = m[2].to_i if m[2]
        end
        port_part = @port == default_port ? '' : ":#{@port}"
        @url = "#{@scheme}://#{@host}#{port_part}#{@path}#{@query_string.empty? ? '' : "?#{@query_string}"}"
      end

      def body_text
        @body_text ||= @body_binary.dup.force_encoding(Encoding::UTF_8)
      end

      def body_raw
        body_text
      end

      # Raises JSON::ParserError on invalid JSON.
      def body_json
        JSON.parse(body_text)
      end

      def body
        if (headers['content-type'] || '').downcase.start_with?('application/json')
          body_text.empty? ? {} : body_json
        else
          body_text
        end
      end
    end

    Output = Struct.new(:body, :status_code, :headers)

    class Response
      def send(body, status_code = 200, headers = {})
        Output.new(body, status_code, headers || {})
      end

      def text(body, status_code = 200, headers = {})
        Output.new(body.nil? ? '' : body.to_s, status_code, headers || {})
      end

      def binary(bytes, status_code = 200, headers = {})
        bytes = bytes.pack('C*') if bytes.is_a?(Array)
        Output.new(bytes.to_s.b, status_code, headers || {})
      end

      def json(obj, status_code = 200, headers = {})
        headers = (headers || {}).dup
        headers['content-type'] = 'application/json' unless headers.keys.any? { |k| k.to_s.downcase == 'content-type' }
        Output.new(JSON.generate(obj), status_code, headers)
      end

      def empty
        Output.new('', 204, {})
      end

      def redirect(url, status_code = 301, headers = {})
        Output.new('', status_code, (headers || {}).merge('location' => url))
      end
    end

    class Context
      attr_reader :req, :res

      def initialize(req, logger)
        @req = req
        @res = Response.new
        @logger = logger
      end

      def log(*args)
        @logger.log(args)
      end

      def error(*args)
        @logger.error(args)
      end
    end

    class LoadError < StandardError; end

    @load_lock = Mutex.new
    @loaded = false

    def self.load_function
      return if @loaded

      @load_lock.synchronize do
        return if @loaded

        entrypoint = ENV.fetch('OPEN_RUNTIMES_ENTRYPOINT', '')
        file = File.expand_path(entrypoint, FUNCTION_DIR)
        unless !entrypoint.empty? && File.file?(file)
          raise LoadError, "Failed to load entrypoint, file #{entrypoint} does not exist."
        end

        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        gemfile = File.join(FUNCTION_DIR, 'Gemfile')
        if File.file?(gemfile)
          ENV['BUNDLE_GEMFILE'] = gemfile
          bundle = File.join(FUNCTION_DIR, 'vendor', 'bundle')
          ENV['BUNDLE_PATH'] = bundle if File.directory?(bundle) && !ENV.key?('BUNDLE_PATH')
          require 'bundler/setup'
        end
        $LOAD_PATH.unshift(FUNCTION_DIR) unless $LOAD_PATH.include?(FUNCTION_DIR)
        TOPLEVEL_BINDING.eval('self').instance_eval { Kernel.load(file) }
        raise LoadError, MSG_SIGNATURE unless Object.private_method_defined?(:main) || Object.method_defined?(:main)

        @timings[:entrypoint_load] = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000
        @loaded = true
      end
    end

    @log_id_lock = Mutex.new
    @last_log_id = 0

    def self.generate_log_id
      return 'dev' if ENV['OPEN_RUNTIMES_ENV'] == 'development'

      micros = @log_id_lock.synchronize do
        now = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
        now = @last_log_id + 1 if now <= @last_log_id
        @last_log_id = now
      end
      micros.to_s(16) + SecureRandom.hex(3)
    end

    def self.sanitize_log_id(id)
      clean = id.gsub(/[^A-Za-z0-9._-]/, '_').sub(/\A\.+/, '_')[0, 128]
      clean.empty? ? generate_log_id : clean
    end

    def self.enforced_headers
      raw = ENV['OPEN_RUNTIMES_HEADERS']
      return {} if raw.nil? || raw.empty?

      parsed = JSON.parse(raw)
      parsed.is_a?(Hash) ? parsed : {}
    rescue JSON::ParserError
      {}
    end

    def self.header_value(value)
      value.is_a?(Array) ? value.map(&:to_s).join(', ') : value.to_s
    end

    def self.plain(status, message, extra = {})
      [status, extra.merge('content-type' => 'text/plain; charset=utf-8'), message.b]
    end

    def self.body_bytes(body)
      case body
      when nil then ''.b
      when String then body.b
      when Hash, Array then JSON.generate(body).b
      else body.to_s.b
      end
    end

    # -> [status, headers (name => String or Array), body bytes]
    def self.handle(method, target, raw_headers, body)
      path = target.split('?', 2).first
      return plain(200, 'OK') if method == 'GET' && path == '/__opr/health'
      if method == 'GET' && path == '/__opr/timings'
        lines = ["startup=#{@timings[:startup]}"]
        lines << "entrypoint_load=#{@timings[:entrypoint_load]}" if @timings[:entrypoint_load]
        return plain(200, "#{lines.join("\n")}\n")
      end

      secret = ENV.fetch('OPEN_RUNTIMES_SECRET', '')
      return plain(500, MSG_UNAUTHORIZED) if !secret.empty? && raw_headers['x-open-runtimes-secret'] != secret

      timeout = nil
      raw_timeout = raw_headers.fetch('x-open-runtimes-timeout', '').strip
      unless raw_timeout.empty?
        return plain(500, MSG_BAD_TIMEOUT) unless raw_timeout.match?(/\A\d+\z/) && raw_timeout.to_i.positive?

        timeout = raw_timeout.to_i
      end

      logging = raw_headers.fetch('x-open-runtimes-logging', '').strip.downcase != 'disabled'
      requested = raw_headers.fetch('x-open-runtimes-log-id', '').strip
      log_id = requested.empty? ? generate_log_id : sanitize_log_id(requested)
      logger = Logger.new(logging, log_id)
      runtime_headers = { 'x-open-runtimes-log-id' => URI_ESCAPE.call(log_id) }

      headers = raw_headers.reject { |k, _| k.start_with?(HEADER_PREFIX) }
      enforced_headers.each { |k, v| headers[k.to_s.downcase] = header_value(v) }

      context = Context.new(Request.new(body, headers, method, target), logger)
      status, out_headers, bytes = execute(context, logger, timeout)
      logger.flush

      response_headers = {}
      (out_headers || {}).each do |k, v|
        k = k.to_s.downcase
        next if k.start_with?(HEADER_PREFIX) || %w[content-length transfer-encoding connection].include?(k) || v.nil?

        response_headers[k] = v.is_a?(Array) ? v.map(&:to_s) : v.to_s
      end
      content_type = header_value(response_headers['content-type'])
      content_type = 'text/plain' if content_type.empty?
      if !content_type.downcase.start_with?('multipart/') && !content_type.match?(/charset=/i)
        content_type += '; charset=utf-8'
      end
      response_headers['content-type'] = content_type
      response_headers.merge!(runtime_headers)
      [status, response_headers, bytes]
    end

    URI_ESCAPE = lambda do |s|
      s.b.gsub(/[^A-Za-z0-9\-._~]/n) { |c| format('%%%02X', c.ord) }
    end

    def self.execute(context, logger, timeout)
      failure = ->(status) { [status, {}, ''.b] }
      begin
        load_function
      rescue LoadError => e
        logger.error([e.message])
        return failure.call(503)
      rescue ScriptError, StandardError => e
        logger.error([e])
        return failure.call(503)
      end

      outcome = {}
      worker = Thread.new do
        Thread.current[:fnplat_logger] = logger
        begin
          outcome[:value] = TOPLEVEL_BINDING.eval('self').send(:main, context)
        rescue Exception => e # rubocop:disable Lint/RescueException -- SystemExit etc. also fail the execution
          outcome[:error] = e
        end
      end
      worker.report_on_exception = false
      finished = timeout ? worker.join(timeout) : worker.join
      unless finished
        worker.kill
        logger.error([MSG_TIMED_OUT])
        return failure.call(500)
      end
      if outcome.key?(:error)
        logger.error([outcome[:error]])
        return failure.call(500)
      end

      output = outcome[:value]
      if output.nil?
        logger.error([MSG_NO_RETURN])
        return failure.call(500)
      end
      output = Output.new(output, 200, {}) unless output.is_a?(Output)
      status = Integer(output.status_code || 200, exception: false)
      return failure.call(500) unless status && status >= 100 && status <= 999

      [status, output.headers.is_a?(Hash) ? output.headers : {}, body_bytes(output.body)]
    rescue StandardError => e
      logger.error([e])
      failure.call(500)
    end

    # ---------------------------------------------------------------------------------------------
    # HTTP/1.1 plumbing.

    class BadRequest < StandardError; end

    def self.read_line(sock, limit)
      line = sock.gets("\r\n", limit)
      return nil if line.nil?
      raise BadRequest, 'line too long' unless line.end_with?("\n")

      line.chomp
    end

    def self.read_chunked(sock)
      body = +''.b
      loop do
        size_line = read_line(sock, 1024) or raise BadRequest, 'truncated chunked body'
        size = Integer(size_line.split(';').first.strip, 16)
        break if size.zero?
        raise BadRequest, "Request body exceeds #{MAX_BODY_BYTES} bytes." if body.bytesize + size > MAX_BODY_BYTES

        body << sock.read(size).to_s
        sock.read(2)
      end
      loop do # trailers
        line = read_line(sock, 8192)
        break if line.nil? || line.empty?
      end
      body
    end

    def self.write_response(sock, status, headers, body, head, keep_alive)
      out = +"HTTP/1.1 #{status} #{REASONS.fetch(status, 'Status')}\r\n"
      headers.each do |k, v|
        Array(v).each { |item| out << "#{k}: #{item.to_s.tr("\r\n", '  ')}\r\n" }
      end
      out << "content-length: #{body.bytesize}\r\n" unless status == 204 || status == 304
      out << "connection: #{keep_alive ? 'keep-alive' : 'close'}\r\n\r\n"
      out = out.b
      out << body unless head || status == 204 || status == 304
      sock.write(out)
    end

    def self.serve_connection(sock)
      loop do
        break unless sock.wait_readable(KEEP_ALIVE_SECONDS)

        request_line = read_line(sock, 16_384)
        break if request_line.nil?
        next if request_line.empty?

        method, target, version = request_line.split(' ', 3)
        raise BadRequest, 'malformed request line' if method.nil? || target.nil?

        headers = {}
        header_bytes = 0
        loop do
          line = read_line(sock, MAX_HEADER_BYTES) or raise BadRequest, 'truncated headers'
          break if line.empty?

          header_bytes += line.bytesize
          raise BadRequest, 'headers too large' if header_bytes > MAX_HEADER_BYTES

          name, value = line.split(':', 2)
          next if value.nil?

          name = name.strip.downcase
          value = value.strip
          headers[name] = headers.key?(name) ? "#{headers[name]}, #{value}" : value
        end

        if headers['expect'].to_s.downcase == '100-continue'
          sock.write("HTTP/1.1 100 Continue\r\n\r\n")
        end
        too_large = false
        body = if headers['transfer-encoding'].to_s.downcase.include?('chunked')
                 begin
                   read_chunked(sock)
                 rescue BadRequest => e
                   raise unless e.message.start_with?('Request body exceeds')

                   too_large = true
                   ''.b
                 end
               else
                 length = headers['content-length'].to_i
                 too_large = length > MAX_BODY_BYTES
                 too_large ? ''.b : sock.read(length).to_s.b
               end
        keep_alive = version.to_s.strip == 'HTTP/1.1' ? headers['connection'].to_s.downcase != 'close' : headers['connection'].to_s.downcase == 'keep-alive'
        if too_large
          status, out_headers, out_body = plain(500, "Request body exceeds #{MAX_BODY_BYTES} bytes.")
          keep_alive = false
        else
          target = "/#{target}" unless target.start_with?('/')
          status, out_headers, out_body = handle(method, target, headers, body)
        end
        write_response(sock, status, out_headers, out_body, method == 'HEAD', keep_alive)
        break unless keep_alive
      end
    rescue BadRequest, ArgumentError => e
      begin
        sock.write("HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: #{e.message.bytesize}\r\nconnection: close\r\n\r\n#{e.message}")
      rescue StandardError
        nil
      end
    rescue IOError, SystemCallError
      nil
    rescue StandardError => e
      NATIVE_STDERR.write("[runtime] request failed: #{e.full_message(highlight: false)}\n")
    ensure
      sock.close unless sock.closed?
    end

    def self.run
      $stdout = NativeOutput.new(NATIVE_STDOUT)
      $stderr = NativeOutput.new(NATIVE_STDERR)
      NATIVE_STDOUT.sync = true
      NATIVE_STDERR.sync = true
      %w[TERM INT].each { |sig| Signal.trap(sig) { exit(0) } }

      server = TCPServer.new(HOST, PORT)
      server.setsockopt(Socket::SOL_SOCKET, Socket::SO_REUSEADDR, true)
      server.listen(1024)
      @timings[:startup] = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - BOOT) * 1000
      NATIVE_STDOUT.write("HTTP server successfully started!\n")

      # Warm the entrypoint so the first execution does not pay for loading it; a failure is reported
      # (in that request's errors) when a request retries the load.
      Thread.new do
        Thread.current[:fnplat_logger] = Logger.new(false, 'warmup')
        load_function
      rescue Exception # rubocop:disable Lint/RescueException
        nil
      end

      loop do
        sock = server.accept
        sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, true)
        Thread.new(sock) { |s| serve_connection(s) }
      end
    end
  end
end

Fnplat::Runtime.run
