// The Kubernetes adapter for everything that is not a watch: one request function over node:https
// with the kubeconfig's credentials, a bound on every call, and errors as KubeError with the
// apiserver's status code and reason. Typed helpers for the few calls the server makes.
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';

import type { KubeConfig } from '@kubernetes/client-node';

export class KubeError extends Error {
  override name = 'KubeError';
  /** HTTP status from the apiserver; 0 when it could not be reached or did not answer in time. */
  readonly status: number;
  /** The Status object's reason (Conflict, NotFound, AlreadyExists, ...) or the network error code. */
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml'; // JSON is YAML: the body is sent as JSON

export class KubeClient {
  readonly kc: KubeConfig;
  readonly timeoutMs: number;
  readonly server: URL;

  constructor(kc: KubeConfig, timeoutMs: number) {
    this.kc = kc;
    this.timeoutMs = timeoutMs;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  async request<T>(spec: RequestSpec): Promise<T> {
    const url = new URL(this.server.href.replace(/\/$/, '') + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const options: RequestOptions = { method: spec.method, headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(options);
    const payload = spec.body === undefined ? undefined : Buffer.from(JSON.stringify(spec.body));
    if (payload) {
      options.headers = {
        ...options.headers,
        'content-type': spec.contentType ?? 'application/json',
        'content-length': payload.length,
      };
    }
    const timeoutMs = spec.timeoutMs ?? this.timeoutMs;
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { ...options, agent: url.protocol === 'http:' ? undefined : options.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new KubeError(0, 'ResponseError', err.message)));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let body: unknown;
          try {
            body = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            body = undefined;
          }
          if (status >= 200 && status < 300) return resolve(body as T);
          const s = (body ?? {}) as { reason?: string; message?: string };
          reject(
            new KubeError(status, s.reason ?? `HTTP${status}`, s.message ?? (text.slice(0, 200) || `HTTP ${status}`)),
          );
        });
      });
      const timer = setTimeout(() => {
        req.destroy(new KubeError(0, 'Timeout', `no answer from the apiserver within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (err instanceof KubeError) return reject(err);
        reject(new KubeError(0, err.code ?? 'NetworkError', `apiserver unreachable: ${err.message}`));
      });
      req.end(payload);
    });
  }
}
