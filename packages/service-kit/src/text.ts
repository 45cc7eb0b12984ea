// Text that is safe to store and to show: no control characters and no unpaired UTF-16 surrogates.
// PostgreSQL refuses U+0000 in text (a 500 if it reaches a query), and an unpaired surrogate cannot
// be encoded as UTF-8, so a driver silently replaces it and the stored value differs from the one
// the client sent. Declaring the rule as a schema pattern puts it in every schema document too.
import { Type, type TString, type TStringOptions } from 'typebox';

/**
 * One or more of: any code unit except C0 controls, DEL, C1 controls and surrogates; or a valid
 * surrogate pair. It means the same with or without the regular expression's `u` flag.
 */
export const PLAIN_TEXT_PATTERN = '^(?:[^\\x00-\\x1F\\x7F-\\x9F\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$';

/** What a 400 says when a value fails PLAIN_TEXT_PATTERN. */
export const PLAIN_TEXT_MESSAGE =
  'must not contain control characters (U+0000-U+001F, U+007F-U+009F) or unpaired surrogates';

/** A string schema that refuses control characters and unpaired surrogates (see PLAIN_TEXT_PATTERN). */
export function PlainText(options: Omit<TStringOptions, 'pattern'> = {}): TString {
  return Type.String({ ...options, pattern: PLAIN_TEXT_PATTERN });
}

const PLAIN_TEXT = new RegExp(PLAIN_TEXT_PATTERN);

/** True when `text` passes PLAIN_TEXT_PATTERN. */
export function isPlainText(text: string): boolean {
  return PLAIN_TEXT.test(text);
}

const UNSAFE = new RegExp(
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  '[\\x00-\\x1F\\x7F-\\x9F]|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]',
  'g',
);

/** `text` with every control character and unpaired surrogate replaced by U+FFFD, for text we do not control. */
export function toPlainText(text: string): string {
  return text.replace(UNSAFE, '\uFFFD');
}
