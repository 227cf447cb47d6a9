#include "weights_converter/zip_archive.h"

#include <zip.h>

#include "base/error.h"
#include "weights_converter/pickle_machine.h"

namespace reddiff {

std::unique_ptr<ZipArchive> ZipArchive::open(const std::string& path) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!za) {
    std::string why;
    switch (err) {
      case ZIP_ER_NOZIP:
        why = "no zip end-of-central-directory record (truncated or not a zip archive)";
        break;
      case ZIP_ER_INCONS:
        why = "inconsistent zip archive (corrupt central directory?)";
        break;
      case ZIP_ER_NOENT:
      case ZIP_ER_OPEN:
        why = "cannot open file";
        break;
      case ZIP_ER_READ:
      case ZIP_ER_SEEK:
        why = "read error (truncated file?)";
        break;
      case ZIP_ER_MEMORY:
        why = "out of memory reading the zip directory";
        break;
      default: {
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        why = std::string("unreadable zip archive (") + zip_error_strerror(&ze) + ")";
        zip_error_fini(&ze);
      }
    }
    throw Error(path + ": " + why);
  }
  std::unique_ptr<ZipArchive> a(new ZipArchive());
  a->path_ = path;
  a->za_ = za;
  zip_int64_t n = zip_get_num_entries(za, 0);
  if (n < 0) throw Error(path + ": cannot read the zip directory");
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, zip_uint64_t(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
      throw Error(path + ": corrupt zip directory entry " + std::to_string(i));
    Entry e;
    e.name = st.name;
    e.index = zip_uint64_t(i);
    e.size = st.size;
    e.method = (st.valid & ZIP_STAT_COMP_METHOD) ? uint16_t(st.comp_method) : 0;
    e.encrypted = (st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE;
    if (a->by_name_.count(e.name))
      throw Error(path + ": zip archive has two entries named '" + pickle::printable(e.name) + "'");
    a->by_name_[e.name] = a->entries_.size();
    a->entries_.push_back(std::move(e));
  }
  return a;
}

ZipArchive::~ZipArchive() {
  close_file();
  if (za_) zip_discard(za_);
}

void ZipArchive::close_file() {
  if (open_) zip_fclose(open_);
  open_ = nullptr;
}

const ZipArchive::Entry* ZipArchive::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

void ZipArchive::fail_entry(const Entry& e, const std::string& what) {
  std::string detail;
  if (open_) {
    const char* s = zip_file_strerror(open_);
    if (s) detail = std::string(" (") + s + ")";
  }
  close_file();
  throw Error(path_ + ": entry '" + pickle::printable(e.name) + "': " + what + detail);
}

std::vector<uint8_t> ZipArchive::read_all(const Entry& e, uint64_t max_size) {
  if (e.encrypted) throw Error(path_ + ": entry '" + pickle::printable(e.name) + "' is encrypted");
  if (e.size > max_size)
    throw Error(path_ + ": entry '" + pickle::printable(e.name) + "' is implausibly large (" + std::to_string(e.size) +
                " bytes)");
  close_file();
  zip_file_t* f = zip_fopen_index(za_, e.index, 0);
  if (!f) {
    zip_error_t* ze = zip_get_error(za_);
    throw Error(path_ + ": cannot open entry '" + pickle::printable(e.name) + "' (" + zip_error_strerror(ze) + ")");
  }
  std::vector<uint8_t> buf(size_t(e.size));
  zip_int64_t got = buf.empty() ? 0 : zip_fread(f, buf.data(), buf.size());
  // Reading one more byte lets libzip reach the end of the entry and check its CRC.
  uint8_t extra;
  zip_int64_t more = got == zip_int64_t(buf.size()) ? zip_fread(f, &extra, 1) : 0;
  std::string err = (got < 0 || more < 0) ? std::string(zip_file_strerror(f)) : std::string();
  zip_fclose(f);
  if (got < 0 || more < 0)
    throw Error(path_ + ": entry '" + pickle::printable(e.name) + "' cannot be read (" + err + ")");
  if (uint64_t(got) != e.size || more != 0)
    throw Error(path_ + ": entry '" + pickle::printable(e.name) +
                "' is shorter or longer than the directory says (truncated?)");
  return buf;
}

void ZipArchive::read(const Entry& e, uint64_t offset, uint64_t n, void* dst) {
  if (offset > e.size || n > e.size - offset)
    throw Error(path_ + ": entry '" + pickle::printable(e.name) + "' holds " + std::to_string(e.size) +
                " bytes, but bytes " + std::to_string(offset) + ".." + std::to_string(offset + n) + " are needed");
  if (e.encrypted) throw Error(path_ + ": entry '" + pickle::printable(e.name) + "' is encrypted");
  if (e.method != ZIP_CM_STORE)
    throw Error(path_ + ": entry '" + pickle::printable(e.name) + "' is compressed (method " +
                std::to_string(e.method) + "); torch checkpoints store tensor data uncompressed");
  if (n == 0) return;
  if (!open_ || open_index_ != e.index) {
    close_file();
    open_ = zip_fopen_index(za_, e.index, 0);
    if (!open_) {
      zip_error_t* ze = zip_get_error(za_);
      throw Error(path_ + ": cannot open entry '" + pickle::printable(e.name) + "' (" + zip_error_strerror(ze) + ")");
    }
    open_index_ = e.index;
    open_pos_ = 0;
  }
  if (open_pos_ != offset) {
    if (zip_fseek(open_, zip_int64_t(offset), SEEK_SET) != 0) fail_entry(e, "cannot seek");
    open_pos_ = offset;
  }
  auto* out = static_cast<uint8_t*>(dst);
  uint64_t done = 0;
  while (done < n) {
    zip_int64_t got = zip_fread(open_, out + done, n - done);
    if (got < 0) fail_entry(e, "read error");
    if (got == 0) fail_entry(e, "ends early (truncated file?)");
    done += uint64_t(got);
  }
  open_pos_ += n;
}

}  // namespace reddiff
