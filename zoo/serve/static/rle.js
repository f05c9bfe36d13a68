// COCO run-length encoding in the browser: the server sends masks as COCO RLE (what
// pycocotools writes), the page decodes them to draw. Written from the format's
// description in pycocotools' maskApi.c (rleFrString): counts alternate runs of 0s and 1s,
// over the mask read column by column; the string form stores each count in 5-bit groups
// (offset by 48, bit 0x20 = "more groups", bit 0x10 = sign) and, from the fourth count on,
// as the difference to the count two places before. Plain arithmetic instead of C's shifts:
// JavaScript shifts wrap at 32 bits.
"use strict";

(function (global) {
  function countsFromString(s) {
    const counts = [];
    let p = 0;
    while (p < s.length) {
      let x = 0;
      let scale = 1;
      let more = 1;
      while (more) {
        const c = s.charCodeAt(p) - 48;
        x += (c & 0x1f) * scale;
        scale *= 32;
        more = c & 0x20;
        p += 1;
        if (!more && (c & 0x10)) x -= scale;
      }
      if (counts.length > 2) x += counts[counts.length - 2];
      counts.push(x);
    }
    return counts;
  }

  // {size: [h, w], counts} -> {mask: Uint8Array (row-major, 1 = inside), area}
  function decode(rle) {
    const h = rle.size[0];
    const w = rle.size[1];
    const counts = typeof rle.counts === "string" ? countsFromString(rle.counts) : rle.counts;
    const mask = new Uint8Array(h * w);
    let pos = 0;
    let area = 0;
    for (let i = 0; i < counts.length; i += 1) {
      const n = counts[i];
      if (i % 2 === 1) {
        for (let j = pos; j < pos + n; j += 1) {
          mask[(j % h) * w + Math.floor(j / h)] = 1;
        }
        area += n;
      }
      pos += n;
    }
    return { mask, area, height: h, width: w };
  }

  global.zooRLE = { decode, countsFromString };
})(window);
