// A watch-fed cache of one resource type, cluster-wide. Built on the client library's ListWatch,
// which relists on 410 Gone and reconnects after its inactivity timeout (silent stalls); what it
// does not do is restart after any other error (apiserver down, 5xx, network), so this wrapper
// restarts it with capped exponential backoff and exposes whether the cache is synced and live.
// Every restart, the library's own ones included, is reported with its reason: `expired` (410 Gone:
// the resourceVersion fell out of the apiserver's watch history, so the cache relists), `stalled`
// (no byte within the idle bound: resumed from the last resourceVersion) or `error`.
import { ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

import type { Logger } from '@sre-platform/service-kit';

import type { KubeClient } from './client.ts';

export interface InformerOptions {
  client: KubeClient;
  /** Collection path, e.g. /apis/apps/v1/deployments. */
  path: string;
  /** Short name for logs, metrics and readiness messages. */
  name: string;
  idleTimeoutMs: number;
  logger: Logger;
  onRestart?: (name: string, reason: WatchRestartReason) => void;
  /**
   * Applied to every object before it enters the cache (listed or watched): keep only what readers use, as
   * client-go's cache transforms do (see trim.ts). It must keep metadata.name, namespace and resourceVersion.
   */
  transform?: (obj: never) => unknown;
}

export type WatchRestartReason = 'expired' | 'stalled' | 'error';

type WatchCallback = (phase: string, obj: unknown, watchObj?: unknown) => void;
type WatchDone = (err: unknown) => void;

function isGone(err: unknown): boolean {
  const e = err as { statusCode?: unknown; code?: unknown } | null;
  return e !== null && typeof e === 'object' && (e.statusCode === 410 || e.code === 410);
}

export type EventHandler<T> = (kind: 'add' | 'update' | 'delete', obj: T) => void;

const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 10_000;
const LIST_TIMEOUT_MS = 60_000;

export class Informer<T extends KubernetesObject> {
  readonly name: string;
  #lw: ListWatch<T>;
  #options: InformerOptions;
  #synced = false;
  #error: string | undefined;
  #failures = 0;
  #stopped = true;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(options: InformerOptions) {
    this.name = options.name;
    this.#options = options;
    const watch = new Watch(options.client.kc);
    // Private in the typings, public at run time: the inactivity bound after which a watch that
    // delivers nothing is considered stalled, aborted and resumed from its last resourceVersion.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = options.idleTimeoutMs;
    // ListWatch handles expiry and stalls by itself and says nothing: watch what it is told.
    const watchOnce = watch.watch.bind(watch);
    watch.watch = (path, query, callback: WatchCallback, done: WatchDone) =>
      watchOnce(
        path,
        query,
        (phase, obj, watchObj) => {
          // The usual form of 410: a 200 stream whose only event is an ERROR carrying a Status.
          if (phase === 'ERROR' && isGone(obj)) this.#onExpired((obj as { message?: string }).message);
          const keep = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
          // watchObj (the whole event, with the untrimmed object) is not passed on: ListWatch does not read it.
          callback(phase, keep ? this.#trim(obj as T) : obj, keep ? undefined : watchObj);
        },
        (err) => {
          if (isGone(err)) this.#onExpired(err instanceof Error ? err.message : undefined);
          else if (err instanceof Error && err.name === 'TimeoutError') this.#onStalled();
          done(err);
        },
      );
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await options.client.request<KubernetesListObject<T>>({
        method: 'GET',
        path: options.path,
        timeoutMs: LIST_TIMEOUT_MS,
      });
      // ListWatch applies the list right after this promise settles, synchronously: mark the
      // cache synced only after that has happened.
      setImmediate(() => this.#onListed());
      return { ...result, items: result.items.map((o) => this.#trim(o)) };
    };
    this.#lw = new ListWatch<T>(options.path, watch, list, false);
    this.#lw.on('error', (err: unknown) => this.#onError(err));
  }

  #trim(obj: T): T {
    const transform = this.#options.transform as ((o: T) => T) | undefined;
    return transform ? transform(obj) : obj;
  }

  /** The initial list has been applied; reads from the cache are meaningful. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Why the cache is not live right now (restarting after an error), or undefined. */
  get error(): string | undefined {
    return this.#error;
  }

  on(handler: EventHandler<T>): void {
    this.#lw.on('add', (o) => handler('add', o));
    this.#lw.on('update', (o) => handler('update', o));
    this.#lw.on('delete', (o) => handler('delete', o));
  }

  get(namespace: string, name: string): T | undefined {
    return this.#lw.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#lw.list(namespace || undefined);
  }

  start(): void {
    this.#stopped = false;
    this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#lw.stop();
  }

  #run(): void {
    this.#lw.start().catch((err: unknown) => this.#onError(err));
  }

  #onListed(): void {
    if (!this.#synced) this.#options.logger.info({ informer: this.name }, 'cache synced');
    this.#synced = true;
    this.#failures = 0;
    this.#error = undefined;
  }

  #onExpired(message: string | undefined): void {
    if (this.#stopped) return;
    this.#options.logger.warn(
      { informer: this.name, reason: 'expired', err: message ?? 'Gone' },
      'watch expired (410 Gone); relisting',
    );
    this.#options.onRestart?.(this.name, 'expired');
  }

  #onStalled(): void {
    if (this.#stopped) return;
    // Debug: on a quiet cluster this is routine, once per idle bound and informer.
    this.#options.logger.debug(
      { informer: this.name, reason: 'stalled', idleTimeoutMs: this.#options.idleTimeoutMs },
      'watch idle past its bound; resuming',
    );
    this.#options.onRestart?.(this.name, 'stalled');
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    const message = err instanceof Error ? err.message : String(err);
    this.#error = `${this.name} watch: ${message}`;
    const delay = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.#failures);
    this.#failures += 1;
    this.#options.logger.warn({ informer: this.name, err: message, retryInMs: delay }, 'watch failed; restarting');
    this.#options.onRestart?.(this.name, 'error');
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (this.#stopped) return;
      // Optimistic: a restart that fails again reports at once (connection refused, 5xx); one
      // that hangs is caught by the connectivity probe, which gates the API and readiness too.
      this.#error = undefined;
      this.#run();
    }, delay);
  }
}
