// replicas became a field with presence (proto3 `optional`): the bytes a correct client sends are
// unchanged, and only "no count at all" became distinguishable from 0.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';

import { handshakeRefusal, requestRejection } from '../src/api/server.ts';
import { SetDesiredReplicasRequestSchema } from '../src/gen/sre_platform/deployments/v1/deployments_pb.js';

const bytes = (replicas?: number) =>
  Array.from(toBinary(SetDesiredReplicasRequestSchema, create(SetDesiredReplicasRequestSchema, { replicas })));

describe('SetDesiredReplicasRequest.replicas on the wire', () => {
  it('encodes a count exactly as the plain int32 field did (field 2, varint)', () => {
    expect(bytes(5)).toEqual([0x10, 0x05]);
    expect(bytes(1000)).toEqual([0x10, 0xe8, 0x07]);
  });

  it('sends an explicit 0, and tells a missing count from 0 when decoding', () => {
    expect(bytes(0)).toEqual([0x10, 0x00]);
    expect(bytes(undefined)).toEqual([]);
    expect(fromBinary(SetDesiredReplicasRequestSchema, new Uint8Array([0x10, 0x00])).replicas).toBe(0);
    expect(fromBinary(SetDesiredReplicasRequestSchema, new Uint8Array([])).replicas).toBeUndefined();
  });
});

describe('refusal reasons', () => {
  it('names requests refused before a handler, and leaves handler errors alone', () => {
    expect(requestRejection(new ConnectError('parse binary: premature EOF', Code.Internal))).toBe('malformed_protobuf');
    expect(
      requestRejection(
        new ConnectError('cannot decode message a.B from JSON: key "replica" is unknown', Code.InvalidArgument),
      ),
    ).toBe('unknown_field');
    expect(
      requestRejection(new ConnectError('cannot decode field a.B.c from JSON: expected number', Code.InvalidArgument)),
    ).toBe('invalid_json');
    expect(
      requestRejection(
        new ConnectError('message size 70000 is larger than configured readMaxBytes', Code.ResourceExhausted),
      ),
    ).toBe('too_large');
    expect(requestRejection(new ConnectError('Unexpected end of JSON input', Code.InvalidArgument))).toBe(
      'invalid_json',
    );
    expect(
      requestRejection(new ConnectError('replicas is required (0 to 1000)', Code.InvalidArgument)),
    ).toBeUndefined();
    expect(requestRejection(new ConnectError('set x failed unexpectedly', Code.Internal))).toBeUndefined();
  });

  it('maps TLS verification codes to a small set of metric labels', () => {
    expect(handshakeRefusal('CERT_HAS_EXPIRED')).toBe('expired');
    expect(handshakeRefusal('UNABLE_TO_GET_ISSUER_CERT_LOCALLY')).toBe('untrusted_ca');
    expect(handshakeRefusal('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).toBe('untrusted_ca');
    expect(handshakeRefusal('NO_CERTIFICATE')).toBe('no_certificate');
    expect(handshakeRefusal('ERR_SSL_UNSUPPORTED_PROTOCOL')).toBe('protocol_version');
    expect(handshakeRefusal('ERR_SOMETHING_NEW')).toBe('handshake_error');
  });
});
