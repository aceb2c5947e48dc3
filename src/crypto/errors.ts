/**
 * The one error class thrown by src/crypto for failures of the data itself (a frame that does not
 * authenticate, a replayed counter, an unknown key). Bad arguments are TypeError/RangeError instead.
 *
 * src/crypto imports nothing from other src/ folders, so this class does not extend the library's
 * ConclaveError; the CLI maps it to its exit code by `name`/`code`.
 *
 * Messages never contain key material or plaintext.
 */
export class CryptoError extends Error {
  /** Stable, machine-readable failure code, e.g. "sframe-auth-failed". */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "CryptoError";
    this.code = code;
  }
}
