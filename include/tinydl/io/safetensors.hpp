#pragma once
/// @file safetensors.hpp
/// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
///
///     [8 bytes: N, little-endian u64] [N bytes: JSON header] [data bytes]
///
/// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
/// relative to the start of the data), plus an optional "__metadata__" map of strings to strings.
/// Data is raw, little-endian, row-major.
///
/// The reader trusts nothing: the header length is bounded (100 MB, as in the reference
/// implementation) and must fit the file; the header is read as a stream of JSON events into the
/// tensor entries directly, never as a JSON tree, and nothing may nest deeper than the format does
/// (so memory stays within a few times the header's bytes: a 100 MB header of nested arrays used
/// to take 3.85 GB as a tree); the JSON must be well formed; every dtype must be known;
/// shape x dtype size must equal the byte span; the spans must lie inside the data, must not
/// overlap, and together must cover it exactly (no holes, no trailing garbage). Every failure is an
/// `IoError` that names the file and, where there is one, the tensor.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/io/file.hpp"

namespace tinydl::io {

/// The element types of the safetensors format.
enum class Dtype { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

/// Size in bytes of one element of `dtype`.
inline std::size_t dtype_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::BOOL:
    case Dtype::U8:
    case Dtype::I8:
      return 1;
    case Dtype::I16:
    case Dtype::U16:
    case Dtype::F16:
    case Dtype::BF16:
      return 2;
    case Dtype::I32:
    case Dtype::U32:
    case Dtype::F32:
      return 4;
    case Dtype::F64:
    case Dtype::I64:
    case Dtype::U64:
      return 8;
  }
  return 0;
}

/// The name used in files: "F32", "I64", ...
inline const char* dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::BOOL:
      return "BOOL";
    case Dtype::U8:
      return "U8";
    case Dtype::I8:
      return "I8";
    case Dtype::I16:
      return "I16";
    case Dtype::U16:
      return "U16";
    case Dtype::F16:
      return "F16";
    case Dtype::BF16:
      return "BF16";
    case Dtype::I32:
      return "I32";
    case Dtype::U32:
      return "U32";
    case Dtype::F32:
      return "F32";
    case Dtype::F64:
      return "F64";
    case Dtype::I64:
      return "I64";
    case Dtype::U64:
      return "U64";
  }
  return "?";
}

/// The dtype of a name from a file; false if the name is unknown.
inline bool parse_dtype(const std::string& name, Dtype& dtype) {
  for (Dtype d : {Dtype::BOOL, Dtype::U8, Dtype::I8, Dtype::I16, Dtype::U16, Dtype::F16, Dtype::BF16,
                  Dtype::I32, Dtype::U32, Dtype::F32, Dtype::F64, Dtype::I64, Dtype::U64})
    if (name == dtype_name(d)) {
      dtype = d;
      return true;
    }
  return false;
}

/// The safetensors dtype that stores a C++ type: float -> F32, double -> F64, int64 -> I64, ...
template <typename T>
constexpr Dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return Dtype::F32;
  else if constexpr (std::is_same_v<T, double>)
    return Dtype::F64;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return Dtype::I64;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return Dtype::I32;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return Dtype::U8;
  else
    static_assert(sizeof(T) == 0, "no safetensors dtype for this type");
}

/// One tensor's entry in a safetensors header.
struct TensorInfo {
  Dtype dtype = Dtype::F32;
  std::vector<std::uint64_t> shape;  ///< may be empty: a scalar
  std::uint64_t begin = 0, end = 0;  ///< byte span, relative to the start of the data

  /// Number of elements: the product of the shape (1 for a scalar).
  std::uint64_t numel() const {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }

  /// The shape as a tinydl `Shape` (a scalar becomes (1)); throws `ShapeError` above rank 4.
  Shape to_shape() const {
    check<ShapeError>(shape.size() <= Shape::max_rank, "a rank-", shape.size(),
                      " tensor does not fit tinydl's rank limit of ", Shape::max_rank);
    Shape s{1};
    switch (shape.size()) {
      case 0:
        break;
      case 1:
        s = Shape{shape[0]};
        break;
      case 2:
        s = Shape{shape[0], shape[1]};
        break;
      case 3:
        s = Shape{shape[0], shape[1], shape[2]};
        break;
      default:
        s = Shape{shape[0], shape[1], shape[2], shape[3]};
        break;
    }
    return s;
  }

  /// `[8, 1, 28, 28]`, as the shape is written in files.
  std::string shape_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

namespace detail {

inline bool host_is_little_endian() {
  const std::uint32_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

/// What reading one element as another type gave.
enum class Conversion { ok, unsupported, out_of_range };

/// Reads element i of a raw array of `dtype` as T. An integer T takes only values whose
/// truncation toward zero fits it (-1.5 as uint8, NaN or 1e30 as int32 are `out_of_range`: the
/// cast would be undefined behaviour); `out` is written only when the result is `ok`.
template <typename T>
Conversion convert_element(Dtype dtype, const char* raw, std::size_t i, T& out) {
  auto load = [&](auto tag) {
    decltype(tag) v;
    std::memcpy(&v, raw + i * sizeof(v), sizeof(v));
    if constexpr (std::is_integral_v<T>) {
      // long double holds every int64 and both bounds exactly; NaN fails both comparisons.
      const long double x = static_cast<long double>(v);
      const long double low = static_cast<long double>(std::numeric_limits<T>::min()) - 1;
      const long double high = static_cast<long double>(std::numeric_limits<T>::max()) + 1;
      if (!(x > low && x < high)) return Conversion::out_of_range;
    }
    out = static_cast<T>(v);
    return Conversion::ok;
  };
  switch (dtype) {
    case Dtype::F32:
      return load(float{});
    case Dtype::F64:
      return load(double{});
    case Dtype::I64:
      return load(std::int64_t{});
    case Dtype::I32:
      return load(std::int32_t{});
    case Dtype::U8:
      return load(std::uint8_t{});
    case Dtype::BOOL:
      return load(std::uint8_t{});
    default:
      return Conversion::unsupported;
  }
}

/// A header entry as written, before it is checked: what `HeaderReader` collects per tensor.
struct RawEntry {
  bool is_object = false;
  std::string unexpected_field;  ///< the first field that is not dtype, shape or data_offsets
  bool has_dtype = false, dtype_is_string = false;
  std::string dtype;
  bool has_shape = false, shape_is_array = false, shape_entries_ok = true;
  std::vector<std::uint64_t> shape;
  bool has_offsets = false, offsets_ok = true;
  std::vector<std::uint64_t> offsets;
};

/// Reads a safetensors header as a stream of JSON events (nlohmann's SAX interface) straight into
/// raw tensor entries and the metadata, so memory follows the entries, not a JSON tree. The
/// format nests three levels (header object, entry object, shape array); anything deeper stops
/// the parse at once. Semantic problems are recorded in the entries (checked afterwards, as
/// before); `error` holds what stopped the parse.
class HeaderReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  /// The longest shape accepted: far above any real tensor's rank (tinydl loads up to 4).
  static constexpr std::size_t max_shape_rank = 64;

  std::vector<std::pair<std::string, RawEntry>> entries;  ///< in file order; later duplicates win
  std::map<std::string, std::string> metadata;
  std::string error;  ///< why the parse stopped early (empty: it did not, or JSON was malformed)

  bool null() override { return scalar(false, 0, nullptr); }
  bool boolean(bool) override { return scalar(false, 0, nullptr); }
  bool number_integer(number_integer_t) override { return scalar(false, 0, nullptr); }  // negative
  bool number_unsigned(number_unsigned_t v) override { return scalar(true, v, nullptr); }
  bool number_float(number_float_t, const string_t&) override { return scalar(false, 0, nullptr); }
  bool string(string_t& v) override { return scalar(false, 0, &v); }
  bool binary(binary_t&) override { return scalar(false, 0, nullptr); }

  bool start_object(std::size_t) override { return open("an object"); }
  bool start_array(std::size_t) override { return open("an array"); }

  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& k) override {
    key_ = k;
    if (depth_ == 2 && !in_metadata_ && skip_ == 0) note_field(entries.back().second, key_);
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  /// An object or array begins at depth_ + 1.
  bool open(const char* what) {
    ++depth_;
    if (depth_ > 3)
      return stop(tinydl::detail::concat("header nests ", what, " ", depth_,
                                         " levels deep; a safetensors header has at most 3"));
    if (skip_ != 0) return true;
    const bool array = what[3] == 'a';  // "an array"
    if (depth_ == 1) return array ? stop("header is not a JSON object") : true;
    if (depth_ == 2) {
      if (key_ == "__metadata__") {
        if (array) return stop("__metadata__ is not a map of strings");
        in_metadata_ = true;
        return true;
      }
      entries.emplace_back(key_, RawEntry{});
      entries.back().second.is_object = !array;
      if (array) skip_ = depth_;  // not an object: reported when the entries are checked
      return true;
    }
    // depth 3: a field's value inside a tensor entry or the metadata
    if (in_metadata_) return stop(tinydl::detail::concat("__metadata__ entry '", key_, "' is not a string"));
    RawEntry& e = entries.back().second;
    field_ = key_;
    if (array && field_ == "shape") {
      e.has_shape = e.shape_is_array = true;
      e.shape.clear();
      return true;
    }
    if (array && field_ == "data_offsets") {
      e.has_offsets = e.offsets_ok = true;
      e.offsets.clear();
      return true;
    }
    wrong_type(e, field_);
    skip_ = depth_;
    return true;
  }

  bool close() {
    if (skip_ == depth_) skip_ = 0;
    if (depth_ == 2) in_metadata_ = false;
    --depth_;
    return true;
  }

  /// A value that is not an object or array: where it is decides what it means.
  bool scalar(bool is_unsigned, std::uint64_t value, string_t* text) {
    if (skip_ != 0) return true;
    if (depth_ == 0) return stop("header is not a JSON object");
    if (depth_ == 1) {
      if (key_ == "__metadata__") return stop("__metadata__ is not a map of strings");
      entries.emplace_back(key_, RawEntry{});  // not an object
      return true;
    }
    if (in_metadata_) {
      if (text == nullptr)
        return stop(tinydl::detail::concat("__metadata__ entry '", key_, "' is not a string"));
      metadata[key_] = std::move(*text);
      return true;
    }
    RawEntry& e = entries.back().second;
    if (depth_ == 2) {
      if (key_ == "dtype" && text != nullptr) {
        e.has_dtype = e.dtype_is_string = true;
        e.dtype = std::move(*text);
      } else {
        wrong_type(e, key_);
      }
      return true;
    }
    // depth 3: an element of shape or data_offsets
    if (field_ == "shape") {
      if (!is_unsigned) e.shape_entries_ok = false;
      if (e.shape.size() == max_shape_rank)
        return stop(tinydl::detail::concat("tensor '", entries.back().first, "': shape has more than ",
                                           max_shape_rank, " dimensions"));
      e.shape.push_back(value);
    } else {
      if (!is_unsigned || e.offsets.size() == 2) e.offsets_ok = false;
      if (e.offsets.size() < 2) e.offsets.push_back(value);
    }
    return true;
  }

  /// `field` holds a value of the wrong JSON type (or is not a field of the format).
  static void wrong_type(RawEntry& e, const std::string& field) {
    if (field == "dtype") {
      e.has_dtype = true;
      e.dtype_is_string = false;
    } else if (field == "shape") {
      e.has_shape = true;
      e.shape_is_array = false;
    } else if (field == "data_offsets") {
      e.has_offsets = true;
      e.offsets_ok = false;
    }
  }

  static void note_field(RawEntry& e, const std::string& field) {
    if (field != "dtype" && field != "shape" && field != "data_offsets" && e.unexpected_field.empty())
      e.unexpected_field = field;
  }

  bool stop(std::string why) {
    error = std::move(why);
    return false;
  }

  std::size_t depth_ = 0;
  std::size_t skip_ = 0;  // the depth of a container whose contents are ignored (a wrong type); 0: none
  bool in_metadata_ = false;
  std::string key_, field_;
};

}  // namespace detail

/// A safetensors file read into memory and validated. Tensors are read out by name, converted to
/// the type asked for.
class SafetensorsFile {
 public:
  /// The largest header accepted, as in the reference implementation.
  static constexpr std::uint64_t max_header_bytes = 100'000'000;

  /// Reads and validates the file at `path`. Throws `IoError` naming the file on any problem.
  static SafetensorsFile load(const std::string& path) { return parse(read_file(path), path); }

  /// Validates the bytes of a safetensors file; `source` names it in error messages.
  static SafetensorsFile parse(std::vector<char> bytes, std::string source) {
    SafetensorsFile file;
    file.source_ = std::move(source);
    file.bytes_ = std::move(bytes);
    file.validate();
    return file;
  }

  /// The file name (or other source) given at load time.
  const std::string& source() const { return source_; }
  /// The `__metadata__` map (empty if the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// Tensor names, in the order of their data in the file.
  const std::vector<std::string>& names() const { return order_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

  /// The header entry of tensor `name`; throws `IoError` if the file has no such tensor.
  const TensorInfo& info(const std::string& name) const {
    const auto it = tensors_.find(name);
    check<IoError>(it != tensors_.end(), source_, ": no tensor named '", name, "'");
    return it->second;
  }

  /// The raw little-endian bytes of tensor `name`.
  const char* raw(const std::string& name) const { return bytes_.data() + data_start_ + info(name).begin; }

  /// Tensor `name` converted to `T` (from F32, F64, I64, I32, U8 or BOOL). A scalar becomes shape (1).
  template <typename T>
  Tensor<T> read_as(const std::string& name) const {
    const TensorInfo& entry = info(name);
    Shape shape;
    try {
      shape = entry.to_shape();
    } catch (const ShapeError& e) {
      throw IoError(
          tinydl::detail::concat(source_, ": tensor '", name, "' ", entry.shape_string(), ": ", e.what()));
    }
    Tensor<T> out(shape);
    copy_converted(name, entry, out.data());
    return out;
  }

  /// Copies tensor `name` into `out`, converting to `T`. Its shape must equal `out`'s (a scalar
  /// matches shape (1)). Throws `IoError` naming both shapes otherwise; `out` is then unchanged.
  template <typename T>
  void read_into(const std::string& name, TensorView<T> out) const {
    const TensorInfo& entry = info(name);
    const bool same = entry.shape.size() <= Shape::max_rank && entry.to_shape() == out.shape();
    if (!same)  // the message is built only on failure
      throw IoError(tinydl::detail::concat(source_, ": tensor '", name, "' has shape ", entry.shape_string(),
                                           ", expected ", out.shape()));
    copy_converted(name, entry, out.data());
  }

 private:
  template <typename T>
  void copy_converted(const std::string& name, const TensorInfo& entry, T* out) const {
    const char* data = bytes_.data() + data_start_ + entry.begin;
    const std::size_t n = static_cast<std::size_t>(entry.numel());
    if (n == 0) return;  // nothing to copy (and memcpy must not see a null pointer)
    if (entry.dtype == dtype_of<T>()) {
      std::memcpy(out, data, n * sizeof(T));
      return;
    }
    // Every element is checked before any is written, so a failed read leaves `out` unchanged.
    T probe{};
    for (std::size_t i = 0; i < n; ++i) {
      const detail::Conversion c = detail::convert_element(entry.dtype, data, i, probe);
      if (c == detail::Conversion::unsupported)
        throw IoError(tinydl::detail::concat(source_, ": tensor '", name, "' has dtype ",
                                             dtype_name(entry.dtype), ", which tinydl cannot convert"));
      if (c == detail::Conversion::out_of_range)
        throw IoError(tinydl::detail::concat(source_, ": tensor '", name, "' element ", i, " (",
                                             dtype_name(entry.dtype),
                                             ") is out of range for the integer type it is read as"));
    }
    for (std::size_t i = 0; i < n; ++i) detail::convert_element(entry.dtype, data, i, out[i]);
  }

  [[noreturn]] void fail(const std::string& what) const { throw IoError(source_ + ": " + what); }

  void validate() {
    check<IoError>(detail::host_is_little_endian(), source_, ": safetensors needs a little-endian host");
    if (bytes_.size() < 8)
      fail(tinydl::detail::concat("truncated: ", bytes_.size(), " bytes, not even the 8-byte header length"));
    std::uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = header_size << 8 | static_cast<unsigned char>(bytes_[i]);
    if (header_size > max_header_bytes)
      fail(tinydl::detail::concat("header length ", header_size, " is larger than the limit of ",
                                  max_header_bytes, " bytes (not a safetensors file?)"));
    if (header_size > bytes_.size() - 8)
      fail(tinydl::detail::concat("header length ", header_size, " runs past the end of the ", bytes_.size(),
                                  "-byte file (truncated?)"));
    data_start_ = 8 + static_cast<std::size_t>(header_size);
    const char* header = bytes_.data() + 8;  // parsed in place: no copy of up to 100 MB
    if (header_size == 0 || header[0] != '{') fail("header is not a JSON object (it must start with '{')");

    detail::HeaderReader reader;
    const bool parsed = nlohmann::json::sax_parse(header, header + header_size, &reader);
    if (!reader.error.empty()) fail(reader.error);
    if (!parsed) fail("header is not well-formed JSON");

    metadata_ = std::move(reader.metadata);
    const std::uint64_t data_size = bytes_.size() - data_start_;
    for (const auto& [name, raw] : reader.entries) tensors_[name] = parse_entry(name, raw, data_size);

    // The spans, in data order, must tile [0, data_size) exactly.
    for (const auto& entry : tensors_) order_.push_back(entry.first);
    std::sort(order_.begin(), order_.end(), [&](const std::string& a, const std::string& b) {
      const auto &x = tensors_[a], &y = tensors_[b];
      return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
    });
    std::uint64_t position = 0;
    const std::string* previous = nullptr;
    for (const std::string& name : order_) {
      const TensorInfo& entry = tensors_[name];
      if (entry.begin < position)
        fail(tinydl::detail::concat("tensor '", name, "' bytes [", entry.begin, ", ", entry.end,
                                    ") overlap tensor '", *previous, "'"));
      if (entry.begin > position)
        fail(tinydl::detail::concat("bytes [", position, ", ", entry.begin,
                                    ") of the data belong to no tensor"));
      position = entry.end;
      previous = &name;
    }
    if (position != data_size)
      fail(tinydl::detail::concat(data_size - position,
                                  " bytes of trailing garbage after the last tensor (data is ", data_size,
                                  " bytes, tensors end at ", position, ")"));
  }

  TensorInfo parse_entry(const std::string& name, const detail::RawEntry& raw,
                         std::uint64_t data_size) const {
    const std::string what = "tensor '" + name + "': ";
    if (!raw.is_object) fail(what + "entry is not a JSON object");
    if (!raw.unexpected_field.empty()) fail(what + "unexpected field '" + raw.unexpected_field + "'");
    TensorInfo entry;
    if (!raw.has_dtype || !raw.dtype_is_string) fail(what + "missing or non-string \"dtype\"");
    if (!parse_dtype(raw.dtype, entry.dtype)) fail(what + "unknown dtype \"" + raw.dtype + "\"");

    if (!raw.has_shape || !raw.shape_is_array) fail(what + "missing or non-array \"shape\"");
    if (!raw.shape_entries_ok) fail(what + "shape entries must be non-negative integers");
    std::uint64_t numel = 1;
    bool overflow = false;
    for (const std::uint64_t extent : raw.shape) {
      if (extent != 0 && numel > std::numeric_limits<std::uint64_t>::max() / extent) overflow = true;
      numel *= extent;
    }
    entry.shape = raw.shape;
    const std::uint64_t element = dtype_size(entry.dtype);
    if (overflow || numel > std::numeric_limits<std::uint64_t>::max() / element)
      fail(what + "shape " + entry.shape_string() + " overflows");

    if (!raw.has_offsets || !raw.offsets_ok || raw.offsets.size() != 2)
      fail(what + "\"data_offsets\" must be two non-negative integers [begin, end]");
    entry.begin = raw.offsets[0];
    entry.end = raw.offsets[1];
    if (entry.begin > entry.end)
      fail(tinydl::detail::concat(what, "data_offsets [", entry.begin, ", ", entry.end,
                                  "] end before they begin"));
    if (entry.end > data_size)
      fail(tinydl::detail::concat(what, "data_offsets [", entry.begin, ", ", entry.end, "] lie outside the ",
                                  data_size, " bytes of data (truncated file?)"));
    if (entry.end - entry.begin != numel * element)
      fail(tinydl::detail::concat(what, "shape ", entry.shape_string(), " of ", dtype_name(entry.dtype),
                                  " needs ", numel * element, " bytes but data_offsets span ",
                                  entry.end - entry.begin));
    return entry;
  }

  std::string source_;
  std::vector<char> bytes_;
  std::size_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::string> order_;
};

/// Builds a safetensors file: add tensors and metadata, then `write` (atomic) or `serialize`.
/// Tensors are copied when added, so the sources may change afterwards.
class SafetensorsWriter {
 public:
  /// Sets a `__metadata__` entry.
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  /// Adds tensor `name` with the contents of `t` (F32 for float, F64 for double, I64, ...).
  template <typename T>
  void add(const std::string& name, TensorView<T> t) {
    std::vector<std::uint64_t> shape;
    for (std::size_t i = 0; i < t.rank(); ++i) shape.push_back(t.shape()[i]);
    add_raw(name, dtype_of<std::remove_const_t<T>>(), shape, t.data(), t.size() * sizeof(T));
  }
  template <typename T>
  void add(const std::string& name, const Tensor<T>& t) {
    add(name, t.view());
  }

  /// Adds a tensor given as raw little-endian bytes of `dtype` and an explicit shape (may be
  /// empty for a scalar). Throws `ConfigError` if the byte count does not match or the name is taken.
  void add_raw(const std::string& name, Dtype dtype, const std::vector<std::uint64_t>& shape,
               const void* data, std::size_t bytes) {
    check<ConfigError>(!name.empty() && name != "__metadata__", "safetensors: invalid tensor name '", name,
                       "'");
    check<ConfigError>(entries_.count(name) == 0, "safetensors: tensor '", name, "' added twice");
    TensorInfo info{dtype, shape, 0, 0};
    if (info.numel() * dtype_size(dtype) != bytes)
      throw ConfigError(tinydl::detail::concat("safetensors: tensor '", name, "' ", info.shape_string(),
                                               " of ", dtype_name(dtype), " needs ",
                                               info.numel() * dtype_size(dtype), " bytes, got ", bytes));
    const char* begin = static_cast<const char*>(data);
    entries_[name] = {info, std::vector<char>(begin, begin + bytes)};
    order_.push_back(name);
  }

  /// The bytes of the file: header padded with spaces to a multiple of 8 (so data is aligned),
  /// tensors in the order they were added.
  std::vector<char> serialize() const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata_.empty()) header["__metadata__"] = metadata_;
    std::uint64_t offset = 0;
    for (const std::string& name : order_) {
      const auto& [info, data] = entries_.at(name);
      header[name] = {{"dtype", dtype_name(info.dtype)},
                      {"shape", info.shape},
                      {"data_offsets", {offset, offset + data.size()}}};
      offset += data.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    // One allocation, filled in place (GCC 12 misreports vector::insert after a resize).
    std::vector<char> out(8 + text.size() + static_cast<std::size_t>(offset));
    const std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
    std::memcpy(out.data() + 8, text.data(), text.size());
    char* data = out.data() + 8 + text.size();
    for (const std::string& name : order_) {
      const auto& bytes = entries_.at(name).second;
      if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
      data += bytes.size();
    }
    return out;
  }

  /// Writes the file atomically (temporary file + rename). Throws `IoError` on failure.
  void write(const std::string& path) const { write_file_atomically(path, serialize()); }

 private:
  std::map<std::string, std::string> metadata_;
  std::map<std::string, std::pair<TensorInfo, std::vector<char>>> entries_;
  std::vector<std::string> order_;
};

}  // namespace tinydl::io
