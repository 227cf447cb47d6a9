#include "engine/cuda/cuda_graph.h"

#include <exception>

#include "base/cuda_check.h"

namespace reddiff {

namespace {

class CudaGraphWork : public CapturedWork {
 public:
  CudaGraphWork(cudaGraphExec_t exec, cudaStream_t s) : exec_(exec), s_(s) {}
  ~CudaGraphWork() override { cudaGraphExecDestroy(exec_); }
  void launch() override { RD_CUDA_CHECK(cudaGraphLaunch(exec_, s_)); }

 private:
  cudaGraphExec_t exec_;
  cudaStream_t s_;
};

}  // namespace

std::unique_ptr<CapturedWork> capture_cuda_graph(cudaStream_t stream, const std::function<void()>& issue,
                                                 std::string* why) {
  std::string err;
  cudaError_t e = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(e);
    return nullptr;
  }
  try {
    issue();
  } catch (const std::exception& x) {
    err = x.what();
  }
  cudaGraph_t graph = nullptr;
  e = cudaStreamEndCapture(stream, &graph);  // always ends the capture, also after a failure inside it
  if (err.empty() && e != cudaSuccess) err = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(e);
  cudaGraphExec_t exec = nullptr;
  if (err.empty()) {
    e = cudaGraphInstantiate(&exec, graph, 0);
    if (e != cudaSuccess) err = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(e), exec = nullptr;
  }
  if (graph) cudaGraphDestroy(graph);
  if (!err.empty()) {
    cudaGetLastError();  // the capture's error is not sticky: clear it so later calls see a clean state
    if (why) *why = err;
    return nullptr;
  }
  return std::make_unique<CudaGraphWork>(exec, stream);
}

}  // namespace reddiff
