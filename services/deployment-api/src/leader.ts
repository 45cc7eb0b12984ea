// Leader election on a coordination.k8s.io/v1 Lease, because the client library has none. The
// algorithm is client-go's: a lease is free when it has no holder or when its record has not
// changed for leaseDurationSeconds as measured on this process's clock (clocks are never compared
// across machines); every update carries the resourceVersion read, so two candidates cannot both
// win; a leader that cannot renew within the renew deadline steps down before anyone else can
// take over; a clean shutdown releases the lease so that a follower takes over at once.
import type { Logger } from '@sre-platform/service-kit';

import { KubeError, type KubeClient } from './kube/client.ts';

export interface LeaderElectorOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  #o: LeaderElectorOptions;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #observed: { record: string; at: number } | undefined;
  #lastRenew = 0;
  #path: string;

  constructor(o: LeaderElectorOptions) {
    this.#o = o;
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases`;
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops campaigning; a leader steps down and releases the lease. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (!this.#leading) return;
    this.#setLeading(false);
    try {
      const lease = await this.#get();
      if (lease && lease.spec.holderIdentity === this.#o.identity) {
        lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() };
        await this.#o.client.request({ method: 'PUT', path: `${this.#path}/${this.#o.name}`, body: lease });
        this.#o.logger.info({ lease: this.#o.name }, 'leader lease released');
      }
    } catch (err) {
      this.#o.logger.warn({ err: String(err) }, 'could not release the leader lease; it will expire');
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    let ok = false;
    try {
      ok = await this.#tryAcquireOrRenew();
    } catch (err) {
      this.#o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'leader election attempt failed');
    }
    if (this.#stopped) return;
    const now = performance.now();
    if (ok) {
      this.#lastRenew = now;
      if (!this.#leading) this.#setLeading(true);
    } else if (this.#leading && now - this.#lastRenew > this.#o.renewDeadlineMs) {
      this.#o.logger.error({ renewDeadlineMs: this.#o.renewDeadlineMs }, 'could not renew the leader lease in time');
      this.#setLeading(false);
    }
    this.#schedule(this.#o.retryPeriodMs);
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#o.logger.info(
      { identity: this.#o.identity, lease: this.#o.name },
      leading ? 'became leader' : 'stopped leading',
    );
    if (leading) this.#o.onStartedLeading();
    else this.#o.onStoppedLeading();
  }

  async #get(): Promise<Lease | undefined> {
    try {
      return await this.#o.client.request<Lease>({ method: 'GET', path: `${this.#path}/${this.#o.name}` });
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return undefined;
      throw err;
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { identity, name, namespace } = this.#o;
    const now = microTime();
    const durationSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    const lease = await this.#get();
    if (!lease) {
      try {
        await this.#o.client.request({
          method: 'POST',
          path: this.#path,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (err) {
        if (err instanceof KubeError && err.status === 409) return false; // someone else created it first
        throw err;
      }
    }
    const spec = lease.spec;
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
    if (this.#observed?.record !== record) this.#observed = { record, at: performance.now() };
    const holder = spec.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== identity;
    const expiresAt = this.#observed.at + (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (heldByOther && performance.now() < expiresAt) return false;
    const mine = holder === identity;
    lease.spec = {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: mine ? (spec.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    try {
      await this.#o.client.request({ method: 'PUT', path: `${this.#path}/${name}`, body: lease });
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.status === 409) return false;
      throw err;
    }
  }
}
