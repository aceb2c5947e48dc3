/** Sequence-number accounting of the upload, RFC 3550 §A.1 (extended highest sequence number). */
export class UploadCounter {
  received = 0;
  private base = -1;
  private maxExt = -1;
  private cycles = 0;

  record(seq: number): void {
    this.received++;
    if (this.base < 0) {
      this.base = seq;
      this.maxExt = seq;
      return;
    }
    const max = this.maxExt & 0xffff;
    const delta = (seq - max) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      if (seq < max) this.cycles += 0x10000;
      this.maxExt = this.cycles + seq;
    }
  }

  get expected(): number {
    return this.base < 0 ? 0 : this.maxExt - this.base + 1;
  }

  get lost(): number {
    return Math.max(0, this.expected - this.received);
  }
}
