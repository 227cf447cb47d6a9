// Input/output bookkeeping of the restoration commands: what IN names (one image, a folder, a list file),
// the stable id and the output path of every image, --shard selection, and the per-image CSV.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace reddiff {

enum class InputKind { File, Directory, List };

// A directory is a folder of images (searched recursively); a file ending in .txt is a list file (one image
// path a line, relative to the list's folder; blank lines and lines starting with '#' are skipped); anything
// else is one image. A missing IN is a reddiff::Error.
InputKind input_kind(const std::string& in);

struct InputItem {
  std::string path;  // the file to read
  std::string
      rel;  // its name relative to IN (folder, list) or its file name (single image): the id and output derive from it
  std::string out;  // where its result goes
  uint64_t id = 0;  // image id for the solver and operator: image_id(rel)
};

// The stable per-image id: 64-bit FNV-1a of the relative name ('/' separators), so a result does not depend
// on the batch, the shard, or the folder the dataset was copied to.
uint64_t image_id(const std::string& rel);

// True for the file names the restoration commands read: .png .jpg .jpeg .bmp .tga .gif .ppm .pgm .pnm and,
// with npy, .npy (measurement arrays).
bool is_input_name(const std::string& path, bool npy);

// The images of a folder or list, sorted by relative name, with outputs under out_dir (extension replaced
// by .png, sub-folders kept). Two inputs mapping to one output are an error.
std::vector<InputItem> list_inputs(const std::string& in, InputKind kind, const std::string& out_dir, bool npy);

struct Shard {
  int index = 0, count = 1;
  bool from_env = false;
  std::string str() const { return std::to_string(index) + "/" + std::to_string(count); }
};
// "i/n" with 0 <= i < n.
Shard parse_shard(const std::string& s);
// SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN (MIN 0 when unset) over SLURM_ARRAY_TASK_COUNT, when both are
// set; else 0/1.
Shard shard_from_env();
// The items whose position in the sorted list is = index (mod count).
std::vector<InputItem> select_shard(const std::vector<InputItem>& items, const Shard& s);

// Width, height and channels of an image (stb_image header) or a .npy array ([C,H,W] or [1,C,H,W]);
// false with a reason when the file cannot be read.
bool probe_input(const std::string& path, int* c, int* h, int* w, std::string* why);

// mkdir -p; throws reddiff::Error when it cannot be created.
void make_directories(const std::string& dir);
// Throws a one-line reddiff::Error when a file cannot be created in dir (probes with a temporary file).
void check_writable_directory(const std::string& dir, const std::string& what);
std::string parent_directory(const std::string& path);  // "." for a bare file name
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

// Writes a file atomically: temporary file in the same folder, then rename. Throws reddiff::Error.
void write_file_atomic(const std::string& path, const std::string& contents);

// The per-image CSV: file,status,psnr,ssim,seconds; rows are flushed as they come so that an interrupted
// run keeps them. Fields are quoted as RFC 4180 when needed; an empty field means "not available".
class CsvWriter {
 public:
  CsvWriter() = default;
  ~CsvWriter();
  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;
  void open(const std::string& path);  // truncates; throws reddiff::Error
  bool is_open() const { return f_ != nullptr; }
  void row(const std::string& file, const std::string& status, double psnr, double ssim, double seconds);
  void close();

 private:
  FILE* f_ = nullptr;
  std::string path_;
};

std::string csv_quote(const std::string& s);

}  // namespace reddiff
