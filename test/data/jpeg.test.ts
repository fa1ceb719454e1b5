import sharp from 'sharp';
import { decodeRgb, decodeRgbFast, DEFAULT_MAX_PIXELS } from '../../lib/data/image';
import { decodeJpegTurbo, encodeJpegTurbo, readJpegHeader, turboDecodable, turboJpeg } from '../../lib/data/jpeg';
import { gradientRgb, jpeg, png } from './helpers';

const raw = (w: number, h: number) => sharp(gradientRgb(w, h, 1), { raw: { width: w, height: h, channels: 3 } });

describe('readJpegHeader', () => {
  test('reads size, components, precision and frame type; notices ICC profiles', async () => {
    expect(readJpegHeader(await raw(40, 30).jpeg().toBuffer())).toEqual({ width: 40, height: 30, components: 3, precision: 8, frame: 0xc0, icc: false });
    expect(readJpegHeader(await raw(40, 30).jpeg({ progressive: true }).toBuffer())).toMatchObject({ frame: 0xc2, components: 3 });
    expect(readJpegHeader(await raw(40, 30).toColourspace('b-w').jpeg().toBuffer())).toMatchObject({ components: 1 });
    const cmyk = readJpegHeader(await raw(40, 30).toColourspace('cmyk').jpeg().toBuffer());
    expect(cmyk).toMatchObject({ components: 4 });
    expect(turboDecodable(cmyk!)).toBe(false);
    const p3 = readJpegHeader(await raw(40, 30).withIccProfile('p3').jpeg().toBuffer());
    expect(p3).toMatchObject({ icc: true });
    expect(turboDecodable(p3!)).toBe(false);
  });

  test('null for anything that is not a well-formed JPEG header', async () => {
    const good = await jpeg(20, 10);
    expect(readJpegHeader(await png(20, 10))).toBeNull();
    expect(readJpegHeader(Buffer.from('not an image at all'))).toBeNull();
    expect(readJpegHeader(good.subarray(0, 30))).toBeNull(); // cut inside the segments before the frame header
    expect(readJpegHeader(new Uint8Array(0))).toBeNull();
  });
});

describe('TurboJPEG path', () => {
  test('the prebuilt binding loads on this machine', () => {
    expect(turboJpeg()).not.toBeNull();
  });

  test('declines what it must not decode; decodeRgbFast then gives exactly decodeRgb', async () => {
    const cases = {
      cmyk: await raw(24, 16).toColourspace('cmyk').jpeg().toBuffer(),
      iccP3: await raw(24, 16).withIccProfile('p3').jpeg().toBuffer(),
      png: await png(24, 16),
      webp: await raw(24, 16).webp().toBuffer(),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      expect([name, decodeJpegTurbo(bytes, DEFAULT_MAX_PIXELS)]).toEqual([name, null]);
      expect(Buffer.from((await decodeRgbFast(bytes)).data).equals(Buffer.from((await decodeRgb(bytes)).data))).toBe(true);
    }
  });

  test('bad or oversized JPEGs get the same named errors as decodeRgb', async () => {
    const good = await jpeg(64, 64);
    expect(decodeJpegTurbo(good.subarray(0, good.length / 2), DEFAULT_MAX_PIXELS)).toBeNull();
    await expect(decodeRgbFast(good.subarray(0, good.length / 2), { name: 'cut.jpg' })).rejects.toThrow(/^cut.jpg: cannot decode image/);
    expect(decodeJpegTurbo(good, 64 * 63)).toBeNull();
    await expect(decodeRgbFast(good, { maxPixels: 64 * 63, name: 'bomb.jpg' })).rejects.toThrow(/^bomb.jpg: cannot decode image: .*pixel limit/);
    await expect(decodeRgbFast(new Uint8Array(0), { name: 'empty' })).rejects.toThrow('empty: cannot decode image: zero-byte input');
  });

  test('decodes gray JPEGs to three equal channels, and encodes a baseline JPEG that decodes back closely', async () => {
    const gray = decodeJpegTurbo(await raw(16, 8).toColourspace('b-w').jpeg().toBuffer(), DEFAULT_MAX_PIXELS)!;
    expect([gray.width, gray.height, gray.data.length]).toEqual([16, 8, 16 * 8 * 3]);
    for (let i = 0; i < gray.data.length; i += 3) expect([gray.data[i + 1], gray.data[i + 2]]).toEqual([gray.data[i], gray.data[i]]);
    // A smooth image: 4:2:0 chroma subsampling at quality 95 then costs well under 3 levels.
    const img = { data: Uint8Array.from({ length: 48 * 32 * 3 }, (_, i) => [((i / 3) % 48) * 5, Math.floor(i / 3 / 48) * 7, 128][i % 3]), width: 48, height: 32 };
    const bytes = encodeJpegTurbo(img, 95)!;
    expect(readJpegHeader(bytes)).toEqual({ width: 48, height: 32, components: 3, precision: 8, frame: 0xc0, icc: false });
    const back = decodeJpegTurbo(bytes, DEFAULT_MAX_PIXELS)!;
    let err = 0;
    back.data.forEach((v, i) => (err += Math.abs(v - img.data[i])));
    expect(err / back.data.length).toBeGreaterThan(0); // lossy
    expect(err / back.data.length).toBeLessThan(3);
  });
});
