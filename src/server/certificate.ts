/**
 * The relay's DTLS certificate: werift makes one per thread (RTCDtlsTransport.SetupCertificate) and
 * every PeerConnection in the thread uses it.
 */
import { RTCDtlsTransport } from "werift";

/**
 * Make this thread's certificate before the first participant waits for it, and compute its
 * fingerprints once: werift re-parses the PEM and hashes it for every m-line of every offer, which
 * is about half the cost of a 40-m-line renegotiation. The fingerprints of a certificate never
 * change, so the cached ones are the same values.
 */
export async function prepareCertificate(): Promise<void> {
  const certificate = await RTCDtlsTransport.SetupCertificate();
  const fingerprints = certificate.getFingerprints();
  certificate.getFingerprints = () => fingerprints;
}
