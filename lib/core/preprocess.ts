/** How an image becomes a backbone's input: every stage (data, model, export, retrieval, jig) reads this one type. */
export interface Preprocess {
  imageSize: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** 'shortest_bicubic_crop' = CLIP eval (shorter side -> size, bicubic, centre crop); 'bilinear' = host baseline squash-resize. */
  resize: 'shortest_bicubic_crop' | 'bilinear';
}
