// One error shape for every 4xx and 5xx: application/problem+json (RFC 9457).
import { STATUS_CODES } from 'node:http';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  /** Extension members (RFC 9457 section 3.2), e.g. requestId or a list of field errors. */
  [extension: string]: unknown;
}

/** Throw from a handler to answer with a problem; anything else thrown becomes a 500. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    detail?: string,
    options: {
      type?: string;
      title?: string;
      extensions?: Record<string, unknown>;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(detail ?? titleFor(status));
    this.name = 'HttpProblem';
    this.status = status;
    this.type = options.type ?? 'about:blank';
    this.title = options.title ?? titleFor(status);
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  toProblem(instance?: string): ProblemDetails {
    return problem(this.status, this.message, { ...this.extensions, type: this.type, title: this.title, instance });
  }
}

export function titleFor(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

export function problem(status: number, detail?: string, extra: Partial<ProblemDetails> = {}): ProblemDetails {
  const body: ProblemDetails = { type: 'about:blank', title: titleFor(status), status };
  if (detail !== undefined) body.detail = detail;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) body[k] = v;
  return body;
}
