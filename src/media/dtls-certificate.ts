/**
 * The DTLS certificate werift uses for DTLS-SRTP (RFC 5764): one self-signed certificate per process
 * (or worker thread), made on first use. werift re-parses it (ASN.1, ~0.13 ms) to compute its
 * fingerprint for every m-line of every offer or answer it writes; a 20-m-line renegotiation parsed
 * it 20 times. The certificate never changes, so neither does its fingerprint: compute it once.
 */
import { RTCDtlsTransport, type RTCCertificate } from "werift";

const memoised = new WeakSet<RTCCertificate>();

/** Make (or get) the process's DTLS certificate and keep its fingerprints. Safe to call often. */
export async function prepareDtlsCertificate(): Promise<void> {
  const certificate = await RTCDtlsTransport.SetupCertificate();
  if (memoised.has(certificate)) return;
  memoised.add(certificate);
  const fingerprints = certificate.getFingerprints();
  certificate.getFingerprints = () => [...fingerprints];
}
