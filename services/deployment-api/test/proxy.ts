// A TCP proxy between the server and the apiserver, so that a test can take the apiserver away
// from one server process without stopping the control plane every other test shares: stop()
// refuses and cuts connections (the apiserver is down), blackhole() keeps connections open but
// silently drops every byte (a stalled network path), start() restores the path.
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { cluster as runCluster } from '@sre-platform/test-platform';
import { afterEach } from 'vitest';

export class ApiserverProxy {
  readonly port: number;
  #upstream: URL;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #blackholed = false;
  /** Connections that carry nothing any more, even after heal(). */
  #dead = new WeakSet<Socket>();

  private constructor(upstream: URL, port: number) {
    this.#upstream = upstream;
    this.port = port;
  }

  static async create(upstream: string): Promise<ApiserverProxy> {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const proxy = new ApiserverProxy(new URL(upstream), port);
    await proxy.start();
    return proxy;
  }

  async start(): Promise<void> {
    this.#blackholed = false;
    if (this.#server) return;
    const server = createServer((client) => {
      this.#sockets.add(client);
      client.on('close', () => this.#sockets.delete(client));
      client.on('error', () => undefined);
      if (this.#blackholed) {
        this.#dead.add(client); // accepted, never answered
        return;
      }
      const upstream = createConnection(Number(this.#upstream.port), this.#upstream.hostname);
      this.#sockets.add(upstream);
      upstream.on('close', () => {
        this.#sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.on('data', (d: Buffer) => {
        if (!this.#dead.has(client)) upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (!this.#dead.has(client)) client.write(d);
      });
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.#server = server;
  }

  /** The apiserver goes away: new connections are refused and open ones are cut. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server) await new Promise((r) => server.close(r));
  }

  /** Every byte in either direction is dropped from now on, on open and new connections. */
  blackhole(): void {
    this.#blackholed = true;
    for (const s of this.#sockets) this.#dead.add(s);
  }

  /** New connections work again; connections opened before stay silent (a stalled path). */
  heal(): void {
    this.#blackholed = false;
  }

  /** A kubeconfig like `source` whose server is this proxy; returns its path. */
  kubeconfig(source: string, dir: string): string {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(readFileSync(source, 'utf8'));
    const cluster = kc.getCurrentCluster()!;
    const server = new URL(cluster.server);
    server.port = String(this.port);
    const clusters = kc.clusters.map((c) =>
      c.name === cluster.name ? { ...c, server: server.href.replace(/\/$/, '') } : c,
    );
    const out = new k8s.KubeConfig();
    out.loadFromOptions({ clusters, users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
    const file = join(dir, `kubeconfig-proxy-${this.port}.yaml`);
    writeFileSync(file, out.exportConfig());
    return file;
  }
}

/**
 * A test's own path to the run's apiserver: each call starts a proxy to it and writes a kubeconfig through the proxy
 * into `dir`; every proxy started is stopped after the test.
 */
export function useApiserverProxies(): (dir: string) => Promise<{ proxy: ApiserverProxy; kubeconfig: string }> {
  const started: ApiserverProxy[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
  });
  return async (dir) => {
    const source = runCluster().kubeconfig;
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(source);
    const proxy = await ApiserverProxy.create(kc.getCurrentCluster()!.server);
    started.push(proxy);
    return { proxy, kubeconfig: proxy.kubeconfig(source, dir) };
  };
}
