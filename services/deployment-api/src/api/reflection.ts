// gRPC server reflection (grpc.reflection.v1 and its deprecated v1alpha twin, identical on the wire)
// so that grpcurl, grpcui, Postman and buf curl can list and describe the services without the
// .proto files. Connect for Node has no reflection package (connectrpc/connect-es#507 is open;
// @grpc/reflection serves @grpc/grpc-js servers only), so this implements the protocol from the
// published .proto, generated with the same buf setup as the API. The descriptors come from the
// generated code, so what reflection shows is exactly what the server serves.
import { createRegistry, toBinary, type DescFile, type DescService, type MessageInitShape } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, type ServiceImpl } from '@connectrpc/connect';

import {
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponseSchema,
} from '../gen/grpc/reflection/v1/reflection_pb.js';
import { ServerReflection as ServerReflectionV1alpha } from '../gen/grpc/reflection/v1alpha/reflection_pb.js';

type Answer = MessageInitShape<typeof ServerReflectionResponseSchema>['messageResponse'];

/** The file and every file it imports, the file itself first, each once per stream (as grpc-go does). */
function withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
  const out: Uint8Array[] = [];
  const visit = (f: DescFile, requested: boolean) => {
    if (!requested && sent.has(f.proto.name)) return;
    sent.add(f.proto.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dep of f.dependencies) visit(dep, false);
  };
  visit(file, true);
  return out;
}

const error = (code: Code, message: string): Answer => ({
  case: 'errorResponse',
  value: { errorCode: code, errorMessage: message },
});

export interface Reflection {
  v1: ServiceImpl<typeof ServerReflection>;
  v1alpha: ServiceImpl<typeof ServerReflectionV1alpha>;
}

/** Reflection over `services` (the ones registered on the router) and the reflection services. */
export function reflectionHandlers(services: DescService[]): Reflection {
  const all = [...services, ServerReflection, ServerReflectionV1alpha];
  const registry = createRegistry(...all.map((s) => s.file));
  const files = new Map<string, DescFile>();
  for (const s of all) {
    const visit = (f: DescFile) => {
      files.set(f.proto.name, f);
      f.dependencies.forEach(visit);
    };
    visit(s.file);
  }

  /** The file defining a service, method, message, enum or extension, by its fully-qualified name. */
  const fileOf = (symbol: string): DescFile | undefined => {
    const found = registry.get(symbol);
    if (found) return found.file;
    // "pkg.Service.Method" and "pkg.Message.field": the parent's file.
    const parent = symbol.slice(0, Math.max(0, symbol.lastIndexOf('.')));
    const owner = parent ? registry.get(parent) : undefined;
    if (owner?.kind === 'service' && owner.methods.some((m) => `${parent}.${m.name}` === symbol)) return owner.file;
    if (owner?.kind === 'message' && owner.fields.some((f) => `${parent}.${f.name}` === symbol)) return owner.file;
    return undefined;
  };

  const answer = (req: ServerReflectionRequest['messageRequest'], sent: Set<string>): Answer => {
    switch (req.case) {
      case 'listServices':
        return { case: 'listServicesResponse', value: { service: all.map((s) => ({ name: s.typeName })) } };
      case 'fileByFilename': {
        const file = files.get(req.value);
        if (!file) return error(Code.NotFound, `file not found: ${req.value}`);
        return { case: 'fileDescriptorResponse', value: { fileDescriptorProto: withDependencies(file, sent) } };
      }
      case 'fileContainingSymbol': {
        const file = fileOf(req.value);
        if (!file) return error(Code.NotFound, `symbol not found: ${req.value}`);
        return { case: 'fileDescriptorResponse', value: { fileDescriptorProto: withDependencies(file, sent) } };
      }
      case 'fileContainingExtension':
        return error(
          Code.NotFound,
          `extension ${req.value.extensionNumber} of ${req.value.containingType} not found (the API defines none)`,
        );
      case 'allExtensionNumbersOfType': {
        if (registry.getMessage(req.value) === undefined) return error(Code.NotFound, `type not found: ${req.value}`);
        return { case: 'allExtensionNumbersResponse', value: { baseTypeName: req.value, extensionNumber: [] } };
      }
      default:
        return error(Code.InvalidArgument, 'empty reflection request: set one of its message_request fields');
    }
  };

  async function* info(requests: AsyncIterable<ServerReflectionRequest>) {
    const sent = new Set<string>();
    for await (const req of requests) {
      yield { validHost: req.host, originalRequest: req, messageResponse: answer(req.messageRequest, sent) };
    }
  }
  return {
    v1: { serverReflectionInfo: info },
    // The v1alpha messages are v1's under another package name: same fields, same numbers.
    v1alpha: {
      serverReflectionInfo: (requests) =>
        info(requests as unknown as AsyncIterable<ServerReflectionRequest>) as unknown as ReturnType<
          ServiceImpl<typeof ServerReflectionV1alpha>['serverReflectionInfo']
        >,
    },
  };
}
