/** Decoded 8-bit RGB pixels, row-major HWC, 3 channels, any size: what decoders give and embedders take. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}
