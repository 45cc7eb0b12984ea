import { Code } from '@connectrpc/connect';

/**
 * not_found, permission_denied, ...: the names the Connect protocol uses on the wire, for the server's metric
 * label and the CLI's messages (a call without an error is `ok`). @connectrpc/connect has the same function,
 * codeToString, but marks it internal and outside semantic versioning.
 */
export function codeName(code: Code | undefined): string {
  return code === undefined ? 'ok' : Code[code].replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}
