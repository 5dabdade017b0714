#pragma once
/// @file protobuf.hpp
/// `ProtoWriter`: the part of the protocol-buffers wire format a file writer needs, for ONNX
/// (io/onnx.hpp). A message is a sequence of fields, each a key (field number << 3 | wire type)
/// and a value:
///
///     wire type 0 (varint)            int32, int64, enum, bool: 7 bits per byte, low first,
///                                     high bit set on all bytes but the last
///     wire type 2 (length-delimited)  string, bytes, nested message, packed repeated scalars:
///                                     a varint byte count, then the bytes
///     wire type 5 (32-bit)            float, little-endian
///
/// (https://protobuf.dev/programming-guides/encoding/). Writing is all tinydl does with protobuf,
/// so it carries these 100 lines instead of a dependency on libprotobuf and generated code.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace tinydl::io {

/// Builds one message's bytes; nested messages are built by their own writer and added whole.
class ProtoWriter {
 public:
  /// A varint field (int32, int64, enum, bool). Negative values take ten bytes, as protobuf's.
  ProtoWriter& varint(std::uint32_t field, std::int64_t value) {
    key(field, 0);
    put_varint(static_cast<std::uint64_t>(value));
    return *this;
  }

  /// A float field (wire type 5).
  ProtoWriter& float32(std::uint32_t field, float value) {
    key(field, 5);
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
    return *this;
  }

  /// A string or bytes field.
  ProtoWriter& bytes(std::uint32_t field, const void* data, std::size_t size) {
    key(field, 2);
    put_varint(size);
    const char* p = static_cast<const char*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
    return *this;
  }
  ProtoWriter& string(std::uint32_t field, const std::string& text) {
    return bytes(field, text.data(), text.size());
  }

  /// A nested message field.
  ProtoWriter& message(std::uint32_t field, const ProtoWriter& nested) {
    return bytes(field, nested.bytes_.data(), nested.bytes_.size());
  }

  const std::vector<char>& data() const { return bytes_; }

 private:
  void key(std::uint32_t field, std::uint32_t wire_type) {
    put_varint((std::uint64_t{field} << 3) | wire_type);
  }

  void put_varint(std::uint64_t value) {
    while (value >= 0x80) {
      bytes_.push_back(static_cast<char>((value & 0x7F) | 0x80));
      value >>= 7;
    }
    bytes_.push_back(static_cast<char>(value));
  }

  std::vector<char> bytes_;
};

}  // namespace tinydl::io
