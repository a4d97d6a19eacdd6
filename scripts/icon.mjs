// Writes images/icon.png (128×128): the extension's icon, a row of token cells coloured by
// advantage on the advantage view's diverging scale (blue: the DPO model prefers the token more
// than the SFT model does, orange: less), the picked cells (the bluest) outlined. Plain zlib + CRC, no image library,
// so the icon is reproducible: node scripts/icon.mjs.
import { writeFileSync, mkdirSync } from "node:fs";
import { deflateSync } from "node:zlib";

const SIZE = 128;
const pixels = Buffer.alloc(SIZE * SIZE * 4);
function set(x, y, [r, g, b, a = 255]) {
  const i = (y * SIZE + x) * 4;
  pixels[i] = r;
  pixels[i + 1] = g;
  pixels[i + 2] = b;
  pixels[i + 3] = a;
}
function rect(x0, y0, w, h, colour) {
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) set(x, y, colour);
}
function roundedBackground(colour, radius) {
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const dx = Math.max(radius - x, x - (SIZE - 1 - radius), 0);
      const dy = Math.max(radius - y, y - (SIZE - 1 - radius), 0);
      if (dx * dx + dy * dy <= radius * radius) set(x, y, colour);
    }
  }
}

roundedBackground([30, 34, 44], 20);
// Three rows of cells: advantages from strongly negative (orange) to strongly positive (blue).
const palette = { pos2: [55, 148, 255], pos1: [120, 175, 240], zero: [90, 96, 110], neg1: [230, 170, 110], neg2: [224, 138, 46] };
const rows = [
  ["neg1", "zero", "pos2", "neg2"],
  ["pos1", "neg2", "zero", "pos2"],
  ["zero", "pos2", "neg1", "pos1"],
];
const cell = 22;
const gap = 6;
const left = (SIZE - (4 * cell + 3 * gap)) / 2;
const top = (SIZE - (3 * cell + 2 * gap)) / 2;
rows.forEach((row, r) =>
  row.forEach((name, c) => {
    const x = left + c * (cell + gap);
    const y = top + r * (cell + gap);
    rect(x, y, cell, cell, palette[name]);
    if (name === "pos2") {
      // The picked token: a white outline.
      rect(x - 2, y - 2, cell + 4, 2, [255, 255, 255]);
      rect(x - 2, y + cell, cell + 4, 2, [255, 255, 255]);
      rect(x - 2, y, 2, cell, [255, 255, 255]);
      rect(x + cell, y, 2, cell, [255, 255, 255]);
    }
  }),
);

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}
const header = Buffer.alloc(13);
header.writeUInt32BE(SIZE, 0);
header.writeUInt32BE(SIZE, 4);
header[8] = 8; // bit depth
header[9] = 6; // RGBA
const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let y = 0; y < SIZE; y++) pixels.copy(raw, y * (SIZE * 4 + 1) + 1, y * SIZE * 4, (y + 1) * SIZE * 4);
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", header), chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", Buffer.alloc(0))]);
mkdirSync("images", { recursive: true });
writeFileSync("images/icon.png", png);
console.log(`images/icon.png: ${png.length} bytes`);
