#pragma once
/// @file font.hpp
/// `Font`: the text of the figures, measured and rasterised with a real TrueType font — DejaVu
/// Sans from Debian's `fonts-dejavu-core`, drawn by `stb_truetype` (Debian's `libstb-dev`, compiled
/// here with internal linkage) with anti-aliased, sub-pixel positioned glyphs. The same metrics lay
/// out the PNG and the SVG figures, and the SVG asks the browser for the same family.
///
/// Where no font file is found (`TINYDL_FONT` names a .ttf file to use instead; a missing or
/// unreadable one falls back as well), text falls back to `stb_easy_font`'s built-in stroke font,
/// so a figure is never lost for want of a font; `Font::is_truetype()` says which one is in use.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifndef STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#define STB_TRUETYPE_IMPLEMENTATION
#define TINYDL_DEFINED_STB_TRUETYPE
#endif
#include <stb/stb_truetype.h>
#ifdef TINYDL_DEFINED_STB_TRUETYPE
#undef STB_TRUETYPE_IMPLEMENTATION
#undef TINYDL_DEFINED_STB_TRUETYPE
#endif
#include <stb/stb_easy_font.h>

namespace tinydl::viz {

/// The CSS font stack the SVG figures name: the family `Font` measures with first.
inline constexpr const char* svg_font_family = "'DejaVu Sans', Verdana, 'Bitstream Vera Sans', sans-serif";

/// Code points of a UTF-8 string; a malformed byte becomes U+FFFD.
inline std::vector<std::uint32_t> utf8_code_points(const std::string& text) {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    std::uint32_t cp = extra == 0 ? c : extra == 1 ? c & 0x1f : extra == 2 ? c & 0x0f : c & 0x07;
    bool ok = extra >= 0 && i + static_cast<std::size_t>(extra) < text.size();
    for (int k = 1; ok && k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
      ok = (next & 0xc0) == 0x80;
      cp = (cp << 6) | (next & 0x3f);
    }
    out.push_back(ok ? cp : 0xfffd);
    i += ok ? static_cast<std::size_t>(extra) + 1 : 1;
  }
  return out;
}

/// An anti-aliased rendering of one line of text: `coverage` (0..255) of a `width` x `height`
/// box whose left edge is the pen's start and whose row `baseline` is the text's baseline.
struct TextMask {
  int width = 0, height = 0, baseline = 0;
  std::vector<std::uint8_t> coverage;
};

/// A typeface in regular and bold, sized in pixels per em (as CSS `font-size`).
class Font {
 public:
  /// The font the figures use, loaded once.
  static const Font& figures() {
    static const Font font;
    return font;
  }

  /// True when a TrueType file was loaded; false when the built-in stroke font stands in.
  bool is_truetype() const { return faces_[0].loaded; }
  /// The file the regular face came from ("" for the built-in font).
  const std::string& file() const { return faces_[0].path; }

  /// The advance width in pixels of `text` at `size` pixels per em.
  double width(const std::string& text, double size, bool bold = false) const {
    const Face& face = this->face(bold);
    if (!face.loaded) return easy_width(text) * size / easy_em;
    const std::vector<std::uint32_t> cps = utf8_code_points(text);
    const double scale = stbtt_ScaleForMappingEmToPixels(&face.info, static_cast<float>(size));
    double units = 0;
    for (std::size_t i = 0; i < cps.size(); ++i) {
      int advance = 0, bearing = 0;
      stbtt_GetCodepointHMetrics(&face.info, static_cast<int>(cps[i]), &advance, &bearing);
      units += advance;
      if (i + 1 < cps.size())
        units +=
            stbtt_GetCodepointKernAdvance(&face.info, static_cast<int>(cps[i]), static_cast<int>(cps[i + 1]));
    }
    return units * scale;
  }

  /// Height above the baseline of capital letters' tops and below it of descenders, in pixels.
  double ascent(double size) const { return 0.76 * size; }
  double descent(double size) const { return 0.24 * size; }

  /// Rasterises `text` at `size` pixels per em, the pen starting `offset_x` (0..1) pixels into
  /// the first column so glyphs keep their sub-pixel position.
  TextMask render(const std::string& text, double size, bool bold = false, double offset_x = 0) const {
    const Face& face = this->face(bold);
    TextMask mask;
    mask.width = static_cast<int>(std::ceil(offset_x + width(text, size, bold))) + 2;
    mask.baseline = static_cast<int>(std::ceil(1.0 * size));
    mask.height = mask.baseline + static_cast<int>(std::ceil(0.35 * size)) + 1;
    mask.coverage.assign(static_cast<std::size_t>(mask.width) * static_cast<std::size_t>(mask.height), 0);
    if (!face.loaded) {
      render_easy(text, size, offset_x, mask);
      return mask;
    }
    const std::vector<std::uint32_t> cps = utf8_code_points(text);
    const float scale = stbtt_ScaleForMappingEmToPixels(&face.info, static_cast<float>(size));
    double pen = offset_x;
    std::vector<unsigned char> glyph;
    for (std::size_t i = 0; i < cps.size(); ++i) {
      const int cp = static_cast<int>(cps[i]);
      const double start = std::floor(pen);
      const float shift = static_cast<float>(pen - start);
      int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
      stbtt_GetCodepointBitmapBoxSubpixel(&face.info, cp, scale, scale, shift, 0, &x0, &y0, &x1, &y1);
      const int gw = x1 - x0, gh = y1 - y0;
      if (gw > 0 && gh > 0) {
        glyph.assign(static_cast<std::size_t>(gw) * static_cast<std::size_t>(gh), 0);
        stbtt_MakeCodepointBitmapSubpixel(&face.info, glyph.data(), gw, gh, gw, scale, scale, shift, 0, cp);
        for (int gy = 0; gy < gh; ++gy)
          for (int gx = 0; gx < gw; ++gx) {
            const int mx = static_cast<int>(start) + x0 + gx, my = mask.baseline + y0 + gy;
            if (mx < 0 || my < 0 || mx >= mask.width || my >= mask.height) continue;
            std::uint8_t& cell = mask.coverage[static_cast<std::size_t>(my) * mask.width + mx];
            cell = static_cast<std::uint8_t>(
                std::min(255, cell + glyph[static_cast<std::size_t>(gy) * gw + gx]));  // glyphs may touch
          }
      }
      int advance = 0, bearing = 0;
      stbtt_GetCodepointHMetrics(&face.info, cp, &advance, &bearing);
      pen += advance * scale;
      if (i + 1 < cps.size())
        pen += stbtt_GetCodepointKernAdvance(&face.info, cp, static_cast<int>(cps[i + 1])) * scale;
    }
    return mask;
  }

 private:
  struct Face {
    std::string path;
    std::vector<unsigned char> data;  // stb_truetype reads glyphs from here: keep it alive
    stbtt_fontinfo info{};
    bool loaded = false;
  };

  // stb_easy_font's capitals are 7 units tall; an em of about 10 units puts them at the height a
  // TrueType font's capitals have.
  static constexpr double easy_em = 10;

  Font() {
    const char* chosen = std::getenv("TINYDL_FONT");
    const std::string dir = "/usr/share/fonts/truetype/dejavu/";
    if (chosen && *chosen) {
      load(faces_[0], chosen);
      load(faces_[1], chosen);
    } else {
      load(faces_[0], dir + "DejaVuSans.ttf");
      load(faces_[1], dir + "DejaVuSans-Bold.ttf");
    }
    if (!faces_[1].loaded && faces_[0].loaded) load(faces_[1], faces_[0].path);
  }

  static void load(Face& face, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return;
    face.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const int offset = face.data.size() > 12 ? stbtt_GetFontOffsetForIndex(face.data.data(), 0) : -1;
    face.loaded = offset >= 0 && stbtt_InitFont(&face.info, face.data.data(), offset) != 0;
    if (face.loaded) face.path = path;
  }

  const Face& face(bool bold) const { return faces_[bold && faces_[1].loaded ? 1 : 0]; }

  static std::string ascii(const std::string& text) {
    std::string out;
    for (std::uint32_t cp : utf8_code_points(text)) out += cp < 128 ? static_cast<char>(cp) : '?';
    return out;
  }
  static double easy_width(const std::string& text) {
    std::string copy = ascii(text);
    return stb_easy_font_width(copy.data());
  }
  static void render_easy(const std::string& text, double size, double offset_x, TextMask& mask) {
    std::string copy = ascii(text);
    std::vector<float> quads(copy.size() * 300 + 64);  // ~270 bytes per character, in floats
    const int count = stb_easy_font_print(0, 0, copy.data(), nullptr, quads.data(),
                                          static_cast<int>(quads.size() * sizeof(float)));
    const double scale = size / easy_em, top = mask.baseline - 7 * scale;
    for (int q = 0; q < count; ++q) {
      const float* v = quads.data() + q * 16;  // 4 vertices of (x, y, z, rgba) = 4 floats each
      const double left = std::min({v[0], v[4], v[8], v[12]}), right = std::max({v[0], v[4], v[8], v[12]});
      const double up = std::min({v[1], v[5], v[9], v[13]}), down = std::max({v[1], v[5], v[9], v[13]});
      for (int y = static_cast<int>(top + up * scale); y < static_cast<int>(top + down * scale); ++y)
        for (int x = static_cast<int>(offset_x + left * scale);
             x < static_cast<int>(offset_x + right * scale); ++x)
          if (x >= 0 && y >= 0 && x < mask.width && y < mask.height)
            mask.coverage[static_cast<std::size_t>(y) * mask.width + x] = 255;
    }
  }

  std::array<Face, 2> faces_;  // regular, bold
};

}  // namespace tinydl::viz
