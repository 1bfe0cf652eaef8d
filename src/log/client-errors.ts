import { type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestView, ResponseView } from './access-format.js';
import type { AccessLog } from './access-log.js';

/** What Node's parser puts on the error it emits as 'clientError' (lib/_http_server.js, prepareError). */
type ClientError = Error & { code?: string; rawPacket?: Buffer };

/** Node's answer for each refusal it names; anything else is a 400 (lib/_http_server.js, socketOnError). */
const STATUS: Record<string, number> = { HPE_HEADER_OVERFLOW: 431, HPE_CHUNK_EXTENSIONS_OVERFLOW: 413, ERR_HTTP_REQUEST_TIMEOUT: 408 };
const answer = (status: number) => `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`;

/** `METHOD SP target SP HTTP/x.y`, the method a token (RFC 9110 5.6.2). */
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d\.\d)$/;
/** A refused request's first line is read up to this many bytes. */
const MAX_LINE = 8192;
const NO_RESPONSE: ResponseView = { getHeader: () => undefined };

type InFlight = { _httpMessage?: { _headerSent?: boolean } | null };

/**
 * What is known of a refused request: its method, target and version when its first line
 * splits into them, else that line as received — but only when the bytes Node refused are the
 * first the connection sent (a later packet would start inside the head, with a header line).
 */
function refusedHead(raw: Buffer | undefined, socket: Socket): { req: RequestView; line?: string } {
  if (!raw || raw.length === 0) return { req: { headers: {} } };
  const text = raw.toString('latin1', 0, Math.min(raw.length, MAX_LINE));
  const end = text.search(/[\r\n]/);
  const first = end < 0 ? text : text.slice(0, end);
  const m = REQUEST_LINE.exec(first);
  if (m) return { req: { method: m[1], url: m[2], httpVersion: m[3], headers: {} } };
  if (first && socket.bytesRead === raw.length) return { req: { headers: {} }, line: first };
  return { req: { headers: {} } };
}

/**
 * Access log lines for requests Node's parser refuses before any request listener sees them
 * (control bytes, a bad request line, a head too large, a head too slow): status, what is known
 * of the request, and the client's address, as nginx logs its 400s.
 *
 * A 'clientError' listener replaces Node's own answer, so this one gives it — the same bytes —
 * unless another listener is there to answer. A refusal while a response is in flight (a
 * malformed body) is not logged here: that request is logged when its response closes.
 */
export function logClientErrors(server: Server, accessLog: AccessLog): void {
  server.on('clientError', (err: ClientError, socket: Socket) => {
    const code = err.code ?? '';
    const status = STATUS[code] ?? 400;
    const inFlight = (socket as Socket & InFlight)._httpMessage;
    if (accessLog.enabled && !inFlight && (code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT')) {
      const { req, line } = refusedHead(err.rawPacket, socket);
      accessLog.write({
        req,
        res: NO_RESPONSE,
        startMs: Date.now(),
        durationUs: 0,
        bytes: 0,
        status,
        remoteAddr: socket.remoteAddress ?? '-',
        requestId: null,
        ...(line === undefined ? {} : { requestLine: line }),
      });
    }
    if (server.listenerCount('clientError') > 1) return;
    // Node's own behaviour: answer unless a response already started on this socket, then close.
    if (socket.writable && !inFlight?._headerSent) socket.write(answer(status));
    socket.destroy(err);
  });
}
