// The smart-HTTP half of the GitLab peer: `git http-backend` (git's own CGI program, the same code
// GitLab's Workhorse and Gitaly speak for) run per request over a directory of bare repositories,
// so that a client's `git push` is a real push into a real repository the tests can inspect.
// Writing a pack protocol by hand would prove agreement with our reading of the protocol only.
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface CgiRequest {
  /** The directory holding `<namespace>/<project>.git` bare repositories. */
  projectRoot: string;
  /** `/<namespace>/<project>.git/info/refs` and the like. */
  pathInfo: string;
  query: string;
  /** The authenticated user: git http-backend allows receive-pack only when REMOTE_USER is set. */
  remoteUser: string;
}

/**
 * Runs `git http-backend` for one request: the request body is its stdin, its stdout is a CGI
 * response (headers, a blank line, the body) turned into the HTTP response.
 */
export function serveGit(req: IncomingMessage, res: ServerResponse, cgi: CgiRequest): void {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    GATEWAY_INTERFACE: 'CGI/1.1',
    GIT_PROJECT_ROOT: cgi.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: cgi.pathInfo,
    QUERY_STRING: cgi.query,
    REQUEST_METHOD: req.method ?? 'GET',
    REMOTE_USER: cgi.remoteUser,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    // Without CONTENT_LENGTH (a chunked request), http-backend reads its stdin to the end.
    ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
    ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
    ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
  };
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  req.pipe(child.stdin);
  child.stdin.on('error', () => undefined); // the backend may answer (an error) before reading the body

  let head = Buffer.alloc(0);
  let headersSent = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersSent) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf('\r\n\r\n');
    const lf = head.indexOf('\n\n');
    const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
    if (end < 0) return;
    const sep = end === crlf ? 4 : 2;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
      else res.setHeader(name, value);
    }
    res.statusCode = status;
    headersSent = true;
    res.write(head.subarray(end + sep));
  });
  child.on('close', (code) => {
    if (!headersSent) {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/plain');
      res.write(`git http-backend exited ${code}: ${Buffer.concat(stderr).toString('utf8')}`);
    }
    res.end();
  });
  child.on('error', (err) => {
    if (!res.headersSent) res.statusCode = 500;
    res.end(String(err));
  });
}
