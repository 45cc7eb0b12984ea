// deployctl: the deployment-api for people. The same .proto as every other client, over mTLS. This module is the
// command itself (run); main.ts beside it is the executable (arguments, exit codes), which images and the
// standalone binary start.
//
//   deployctl list [-n NAMESPACE] [-l SELECTOR] [--page-size N]
//   deployctl get NAMESPACE/NAME
//   deployctl set NAMESPACE/NAME REPLICAS [--expected-version V]
//   deployctl unmanage NAMESPACE/NAME [--expected-version V]
//   deployctl diff [-n NAMESPACE]
//
// Flags (or environment): --server (DEPLOYCTL_SERVER, default https://localhost:8443), --ca, --cert,
// --key (DEPLOYCTL_CA/CERT/KEY, default .certs/ca.crt and .certs/operator.*), -o table|json,
// --protocol grpc|connect, --version. Exit codes: 0 done, 1 refused by the server, 2 usage or local error.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';

import { deploymentClient } from '../client.ts';
import { VERSION } from '../version.ts';
import {
  DiffResponseSchema,
  GetDeploymentResponseSchema,
  ListDeploymentsResponseSchema,
  SetDesiredReplicasResponseSchema,
  UnmanageResponseSchema,
  type Deployment,
} from '../gen/sre_platform/deployments/v1/deployments_pb.js';

// The development certificates `make certs` writes (services/deployment-api/.certs), found from this module in the
// sources; a bundle or a binary has no such folder beside it, so there the flags or DEPLOYCTL_* are needed.
const CERTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.certs');

class UsageError extends Error {}

const USAGE = `usage: deployctl <list|get|set|unmanage|diff> [args] [flags]
  list [-n NAMESPACE] [-l SELECTOR] [--page-size N]   Deployments (every page unless --page-size)
  get NAMESPACE/NAME                                  replica counts and management state
  set NAMESPACE/NAME REPLICAS [--expected-version V]  manage at REPLICAS
  unmanage NAMESPACE/NAME [--expected-version V]      stop managing
  diff [-n NAMESPACE]                                 managed Deployments that differ from desired
flags: --server URL --ca FILE --cert FILE --key FILE -o table|json --protocol grpc|connect --version`;

function ref(arg: string | undefined): { namespace: string; name: string } {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(arg ?? '');
  if (!m) throw new UsageError(`expected NAMESPACE/NAME, got ${JSON.stringify(arg ?? '')}`);
  return { namespace: m[1]!, name: m[2]! };
}

function table(header: string[], rows: (string | number)[][]): string {
  const all = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return (
    all
      .map((r) =>
        r
          .map((c, i) => (c ?? '').padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function deploymentRows(ds: Deployment[]): string {
  return table(
    ['NAMESPACE', 'NAME', 'SPEC', 'READY', 'AVAILABLE', 'UPDATED', 'DESIRED', 'STATE'],
    ds.map((d) => [
      d.ref?.namespace ?? '',
      d.ref?.name ?? '',
      d.specReplicas,
      d.readyReplicas,
      d.availableReplicas,
      d.updatedReplicas,
      d.management ? d.management.desiredReplicas : '-',
      d.management ? d.management.state : 'unmanaged',
    ]),
  );
}

export async function run(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string', default: env['DEPLOYCTL_SERVER'] ?? 'https://localhost:8443' },
      ca: { type: 'string', default: env['DEPLOYCTL_CA'] ?? join(CERTS, 'ca.crt') },
      cert: { type: 'string', default: env['DEPLOYCTL_CERT'] ?? join(CERTS, 'operator.crt') },
      key: { type: 'string', default: env['DEPLOYCTL_KEY'] ?? join(CERTS, 'operator.key') },
      output: { type: 'string', short: 'o', default: 'table' },
      protocol: { type: 'string', default: 'grpc' },
      namespace: { type: 'string', short: 'n', default: '' },
      selector: { type: 'string', short: 'l', default: '' },
      'page-size': { type: 'string' },
      'expected-version': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  const [command, ...args] = positionals;
  if (values.version) {
    out(`deployctl ${VERSION}\n`);
    return 0;
  }
  if (values.help || !command) {
    out(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (values.output !== 'table' && values.output !== 'json') throw new UsageError('-o must be table or json');
  if (values.protocol !== 'grpc' && values.protocol !== 'connect')
    throw new UsageError('--protocol must be grpc or connect');
  const json = values.output === 'json';
  const print = <D extends DescMessage>(schema: D, msg: MessageShape<D>, text: () => string) =>
    out(json ? `${JSON.stringify(toJson(schema, msg), null, 2)}\n` : text());

  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch {
      throw new UsageError(`cannot read the ${what} ${file} (make certs, or pass --${what})`);
    }
  };
  const api = deploymentClient({
    baseUrl: values.server,
    ca: read(values.ca, 'ca'),
    cert: read(values.cert, 'cert'),
    key: read(values.key, 'key'),
    protocol: values.protocol,
  });
  const callOptions = { timeoutMs: 15_000 };

  switch (command) {
    case 'list': {
      const pageSize = values['page-size'] === undefined ? 0 : Number(values['page-size']);
      if (!Number.isInteger(pageSize) || pageSize < 0) throw new UsageError('--page-size must be a positive integer');
      const all: Deployment[] = [];
      let token = '';
      for (;;) {
        const page = await api.listDeployments(
          { namespace: values.namespace, labelSelector: values.selector, pageSize, pageToken: token },
          callOptions,
        );
        all.push(...page.deployments);
        token = page.nextPageToken;
        if (token === '' || values['page-size'] !== undefined) {
          const merged = { ...page, deployments: all };
          print(
            ListDeploymentsResponseSchema,
            merged,
            () => deploymentRows(all) + (token ? `next page: ${token}\n` : ''),
          );
          return 0;
        }
      }
    }
    case 'get': {
      const r = await api.getDeployment({ ref: ref(args[0]) }, callOptions);
      print(GetDeploymentResponseSchema, r, () => {
        const m = r.deployment?.management;
        const detail = m
          ? `version: ${m.version}  drift restored: ${m.driftRestorations}${m.reason ? `\nreason: ${m.reason}` : ''}\n`
          : '';
        return deploymentRows(r.deployment ? [r.deployment] : []) + detail;
      });
      return 0;
    }
    case 'set': {
      const replicas = Number(args[1]);
      if (args[1] === undefined || !Number.isInteger(replicas))
        throw new UsageError('set needs NAMESPACE/NAME REPLICAS');
      const r = await api.setDesiredReplicas(
        { ref: ref(args[0]), replicas, expectedVersion: values['expected-version'] },
        callOptions,
      );
      print(SetDesiredReplicasResponseSchema, r, () => deploymentRows(r.deployment ? [r.deployment] : []));
      return 0;
    }
    case 'unmanage': {
      const target = ref(args[0]);
      const r = await api.unmanage({ ref: target, expectedVersion: values['expected-version'] }, callOptions);
      print(UnmanageResponseSchema, r, () =>
        r.wasManaged
          ? `${target.namespace}/${target.name}: no longer managed\n`
          : `${target.namespace}/${target.name}: was not managed\n`,
      );
      return 0;
    }
    case 'diff': {
      const r = await api.diff({ namespace: values.namespace }, callOptions);
      print(DiffResponseSchema, r, () =>
        r.entries.length === 0
          ? 'every managed Deployment is in sync\n'
          : table(
              ['NAMESPACE', 'NAME', 'DESIRED', 'SPEC', 'DIFF', 'STATE', 'REASON'],
              r.entries.map((e) => [
                e.ref?.namespace ?? '',
                e.ref?.name ?? '',
                e.desiredReplicas,
                e.specReplicas < 0 ? '-' : e.specReplicas,
                e.difference > 0 ? `+${e.difference}` : e.difference,
                e.state,
                e.reason,
              ]),
            ),
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${command}\n${USAGE}`);
  }
}
