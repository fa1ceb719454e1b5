/** A pixel rectangle of an image: the crop boxes of preprocessing and augmentation, and the resampler's source region. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}
