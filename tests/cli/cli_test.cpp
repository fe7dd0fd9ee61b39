// SPDX-License-Identifier: GPL-3.0-or-later
// The `curia` tool as a user runs it: golden cases end to end through files, exit statuses and
// the messages people see.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "curia/config/json.h"
#include "curia/config/settings.h"
#include "curia/model/dinov2_config.h"
#include "curia/model/head_config.h"
#include "curia/model/mask.h"
#include "curia/model/safetensors.h"
#include "decode_png.h"
#include "hostile_dicom.h"
#include "test_support.h"

namespace curia {
namespace {

using test::RunTool;
using test::TempDir;

std::vector<float> Read(const std::string& path, const std::string& tensor) {
  return model::ToFloat32(model::SafetensorsFile::Open(path)->Get(tensor));
}

TEST(Cli, ForwardMatchesTheGoldenBackbones) {
  for (const char* name : {"backbone_swiglu", "backbone_gelu", "backbone_swiglu_img96"}) {
    TempDir dir;
    const std::string golden = test::GoldenPath(name);
    const auto r = RunTool({"forward", "--model", golden, "--input", golden + "/io.safetensors", "--output",
                            dir.File("out.safetensors"), "--hidden-states", "--batch", "1", "--threads", "1"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto io = model::SafetensorsFile::Open(golden + "/io.safetensors");
    const std::string out = dir.File("out.safetensors");
    EXPECT_TRUE(test::AllClose(Read(out, "last_hidden_state"), io->Get("last_hidden_state"), 1e-5)) << name;
    EXPECT_TRUE(test::AllClose(Read(out, "pooler_output"), io->Get("pooler_output"), 1e-5)) << name;
    EXPECT_TRUE(test::AllClose(Read(out, "hidden_states"), io->Get("hidden_states"), 2e-5)) << name;
  }
}

struct PreprocessCase {
  std::string file, tensor;
  std::vector<std::string> options;
};

TEST(Cli, PreprocessMatchesTheGoldenProcessor) {
  const std::vector<PreprocessCase> cases = {
      {"ct512_identity", "pixel_values_512", {"--size", "512"}},
      {"ct333x417_nonsquare", "pixel_values_64_clip", {"--size", "64", "--clip-below-air"}},
      {"batch_list", "pixel_values_64", {"--size", "64"}},
      {"volume_hws", "pixel_values_64", {"--size", "64"}},
      {"int32_wrap", "pixel_values_64", {"--size", "64"}},
      {"tensor_path_fovpad", "pixel_values_64_clip", {"--size", "64", "--tensor-input", "--clip-below-air"}},
      {"versionB_volume_num_slices8", "pixel_values_32", {"--size", "32", "--processor", "B", "--num-slices", "8"}},
  };
  for (const PreprocessCase& c : cases) {
    TempDir dir;
    const std::string golden = test::GoldenPath("prepro/" + c.file + ".safetensors");
    std::vector<std::string> args = {"preprocess", "--input", golden, "--input-tensor", "input", "--output",
                                     dir.File("out.safetensors")};
    args.insert(args.end(), c.options.begin(), c.options.end());
    const auto r = RunTool(args);
    ASSERT_EQ(r.status, 0) << c.file << ": " << r.err;
    auto expected = model::SafetensorsFile::Open(golden);
    auto out = model::SafetensorsFile::Open(dir.File("out.safetensors"));
    EXPECT_EQ(out->Get("pixel_values").shape, expected->Get(c.tensor).shape) << c.file;
    EXPECT_TRUE(test::AllClose(model::ToFloat32(out->Get("pixel_values")), expected->Get(c.tensor), 2e-5)) << c.file;
  }
}

TEST(Cli, HeadMatchesTheGoldenHeads) {
  const std::string model = test::GoldenPath("backbone_swiglu");
  for (const char* io_name : {"io_cls", "io_mask"}) {  // 2-D: one row per slice
    TempDir dir;
    const std::string io = test::GoldenPath(std::string("head2d/") + io_name + ".safetensors");
    const auto r = RunTool({"head", "--model", model, "--head", test::GoldenPath("head2d"), "--input", io, "--output",
                            dir.File("out.safetensors"), "--batch", "2"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(test::AllClose(Read(dir.File("out.safetensors"), "logits"),
                               model::SafetensorsFile::Open(io)->Get("logits"), 1e-5))
        << io_name;
    const auto probabilities = Read(dir.File("out.safetensors"), "probabilities");
    EXPECT_NEAR(probabilities[0] + probabilities[1] + probabilities[2] + probabilities[3] + probabilities[4], 1.0, 1e-6);
  }
  // 3-D: one study (volume) at a time; the golden volumes need no padding, so alone == batched.
  auto io3 = model::SafetensorsFile::Open(test::GoldenPath("head3d/io.safetensors"));
  const model::TensorView& pixels = io3->Get("pixel_values");  // (2, 5, 1, 64, 64)
  const std::vector<float> logits = model::ToFloat32(io3->Get("logits"));
  auto mask_io = model::SafetensorsFile::Open(test::GoldenPath("head3d/variants/mask_padding/io.safetensors"));
  const std::vector<float> alone = model::ToFloat32(mask_io->Get("logits_each_volume_alone"));
  const std::vector<float> mask_hws = model::ToFloat32(mask_io->Get("mask"));  // (2, 64, 64, 5)
  TempDir variant;
  test::CopyFile(test::GoldenPath("head3d/variants/mask_padding/config.json"), variant.File("config.json"));
  test::CopyFile(test::GoldenPath("head3d/model.safetensors"), variant.File("model.safetensors"));
  const size_t per_volume = pixels.nbytes / 2;
  for (int v = 0; v < 2; ++v) {
    TempDir dir;
    model::SafetensorsWriter w;
    w.Add("pixel_values", model::DType::kF32, {5, 1, 64, 64},
          std::vector<uint8_t>(pixels.data + v * per_volume, pixels.data + (v + 1) * per_volume));
    w.Write(dir.File("in.safetensors"));
    auto r = RunTool({"head", "--model", model, "--head", test::GoldenPath("head3d"), "--input", dir.File("in.safetensors"),
                      "--output", dir.File("out.safetensors")});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("3-D head, logits 1 x 3 (slices 1,2,3)"), std::string::npos) << r.out;
    EXPECT_TRUE(test::AllClose(Read(dir.File("out.safetensors"), "logits"),
                               std::vector<float>(logits.begin() + 3 * v, logits.begin() + 3 * v + 3), 1e-5));
    // The same volume with its mask, (S, 1, H, W) from the golden (H, W, S) layout.
    std::vector<float> mask(5 * 64 * 64);
    for (int s = 0; s < 5; ++s) {
      for (int i = 0; i < 64 * 64; ++i) mask[s * 4096 + i] = mask_hws[v * 5 * 4096 + i * 5 + s];
    }
    w.AddFloat32("mask", {5, 1, 64, 64}, mask);
    w.Write(dir.File("in_mask.safetensors"));
    r = RunTool({"head", "--model", model, "--head", variant.path(), "--input", dir.File("in_mask.safetensors"),
                 "--output", dir.File("out_mask.safetensors")});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(test::AllClose(Read(dir.File("out_mask.safetensors"), "logits"),
                               std::vector<float>(alone.begin() + 3 * v, alone.begin() + 3 * v + 3), 1e-5));
  }
}

TEST(Cli, HeadOnTheWrongBackboneIsRefused) {
  TempDir dir;
  const auto r = RunTool({"head", "--model", test::GoldenPath("backbone_gelu"), "--head", test::GoldenPath("head2d"),
                          "--input", test::GoldenPath("head2d/io_cls.safetensors"), "--output", dir.File("o.safetensors")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("tensor 'classifier.weight' has shape [5, 64], expected [5, 32]: the head was trained on "
                       "features of size 64"),
            std::string::npos)
      << r.err;
}

TEST(Cli, DemoModelInfoAndForwardOnAPhantom) {
  TempDir dir;
  const std::string model = dir.File("model");
  auto r = RunTool({"demo-model", "--out", model, "--seed", "5"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("DEMO"), std::string::npos);
  r = RunTool({"info", "--model", model});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("DEMO weights: meaningless output"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hidden 64, 2 layers, 4 heads, SwiGLU"), std::string::npos) << r.out;
  const std::string first_sha = r.out.substr(r.out.find("sha256"));
  ASSERT_EQ(RunTool({"demo-model", "--out", model, "--seed", "5"}).status, 0);  // overwrites its own demo
  EXPECT_EQ(RunTool({"info", "--model", model}).out.substr(r.out.find("sha256")), first_sha);

  r = RunTool({"demo", "--out", dir.File("demo"), "--model", model, "--slices", "3", "--threads", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("3 slices in"), std::string::npos) << r.out;
  auto features = model::SafetensorsFile::Open(dir.File("demo/features.safetensors"));
  EXPECT_EQ(features->Get("pooler_output").shape, (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(features->Get("last_hidden_state").shape, (std::vector<int64_t>{3, 1025, 64}));
  auto phantom = model::SafetensorsFile::Open(dir.File("demo/phantom.safetensors"));
  EXPECT_EQ(phantom->Get("image").shape, (std::vector<int64_t>{512, 512, 3}));

  // The phantom written by the demo goes through `curia preprocess` and `curia forward` too, and
  // gives the features the demo computed (same code path, one slice at a time there).
  r = RunTool({"preprocess", "--input", dir.File("demo/phantom.safetensors"), "--output", dir.File("pv.safetensors"),
               "--size", "512"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(model::SafetensorsFile::Open(dir.File("pv.safetensors"))->Get("pixel_values").shape,
            (std::vector<int64_t>{1, 3, 1, 512, 512}));  // a volume: one z-score over the stack
}

TEST(Cli, BadWeightsFailWithTheFileAndTensor) {
  TempDir dir;
  test::CopyFile(test::GoldenPath("backbone_swiglu/config.json"), dir.File("config.json"));
  const std::string weights = test::ReadFile(test::GoldenPath("backbone_swiglu/model.safetensors"));
  test::WriteFile(dir.File("model.safetensors"), weights.substr(0, weights.size() / 2));
  const auto r = RunTool({"forward", "--model", dir.path(), "--input",
                          test::GoldenPath("backbone_swiglu/io.safetensors"), "--output", dir.File("out.safetensors")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("curia forward: error: " + dir.File("model.safetensors") + ": tensor '"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("the file is truncated or corrupt"), std::string::npos) << r.err;
  EXPECT_EQ(test::ReadFile(dir.File("out.safetensors")), "");  // nothing half-written
}

TEST(Cli, UsageErrorsAndHelp) {
  auto r = RunTool({"forward", "--input", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("missing required option --model (try curia forward --help)"), std::string::npos) << r.err;
  r = RunTool({"preprocess", "--input", "a", "--output", "b", "--size", "big"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--size must be an integer in [1, 16384], got 'big'"), std::string::npos) << r.err;
  r = RunTool({"forward", "--bogus"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown option '--bogus'"), std::string::npos);
  r = RunTool({"frobnicate"});
  EXPECT_EQ(r.status, 2);
  for (const char* cmd : {"demo", "demo-model", "info", "forward", "head", "preprocess", "run"}) {
    r = RunTool({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_EQ(r.out.rfind(std::string("usage: curia ") + cmd, 0), 0u) << r.out;
  }
  EXPECT_EQ(RunTool({"bench", "model", "--help"}).status, 0);
  r = RunTool({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("RESEARCH USE ONLY"), std::string::npos);
}

TEST(Cli, UnavailableDeviceIsAClearError) {
  TempDir dir;
  const std::string golden = test::GoldenPath("backbone_swiglu");
  const auto r = RunTool({"forward", "--model", golden, "--input", golden + "/io.safetensors", "--output",
                          dir.File("o.safetensors"), "--device", "cuda:7"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("curia forward: error: device cuda:7"), std::string::npos) << r.err;
}

TEST(Cli, BenchModelWritesItsRatio) {
  TempDir dir;
  const auto r = RunTool({"bench", "model", "--size", "tiny", "--iterations", "1", "--threads", "1", "--json",
                          dir.File("bench.json")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("[backbone_gemm_ratio]"), std::string::npos);
  const config::Json j = config::ParseJsonFile(dir.File("bench.json"));
  EXPECT_GT(config::Find(j, "backbone_gemm_ratio")->asDouble(), 0.0);
  EXPECT_EQ(config::Find(j, "tokens")->asInt64(), 1025);
  EXPECT_EQ((*config::Find(j, "gemm_shape"))[2].asInt64(), 352);  // the tiny model's SwiGLU input width
  // The reference is the best of its runs, so never slower than their median.
  EXPECT_GE(config::Find(j, "gemm_runs")->asInt64(), 3);
  EXPECT_GE(config::Find(j, "gemm_gflops")->asDouble(), config::Find(j, "gemm_median_gflops")->asDouble());
  // The time split, printed and in the JSON.
  for (const char* part : {"projections", "attn products", "softmax", "norms", "mlp"}) {
    EXPECT_NE(r.out.find(std::string("    ") + part), std::string::npos) << part << "\n" << r.out;
  }
  const config::Json* split = config::Find(j, "time_split_seconds");
  ASSERT_NE(split, nullptr);
  EXPECT_GT((*split)["attention_products"].asDouble(), 0.0);
  EXPECT_GT((*split)["mlp"].asDouble(), 0.0);
}

#ifdef CURIA_WITH_POOL
// `curia run` with the demo model (generated into a test cache folder).
class CliRun : public ::testing::Test {
 protected:
  test::ToolResult Run(const std::vector<std::string>& args) {
    return RunTool(args, {"XDG_CACHE_HOME=" + cache_.path(), "HOME=" + cache_.path()});
  }
  // Output and "exit N" of a command.
  static std::string Shell(const std::string& command) {
    const test::ShellResult r = test::RunShell(command);
    return r.output + "\nexit " + std::to_string(r.status);
  }
  TempDir cache_;
};

TEST_F(CliRun, ProcessesAFolderAndRefusesWhatItCannotWithReasons) {
  TempDir out;
  const std::string dicom = std::string(CURIA_SHARED_DIR) + "/dicom";
  const auto r = Run({"run", dicom, "--out", out.path()});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("generating the DEMO model"), std::string::npos);
  // JPEG 2000: the Comunix CT and transfer-syntaxes/...4.91.dcm (a CT slice) are processed; the
  // Comunix PET, the NM image without a position and the colour image are refused for that.
  EXPECT_NE(r.out.find("13 series processed, 25 refused with their reason, 0 failed, 0 unreadable file(s)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("mixed orientations in one series"), std::string::npos);          // Knix localizer
  EXPECT_NE(r.out.find("modality PT: only CT and MR are analysed"), std::string::npos);  // Comunix PET
  EXPECT_EQ(r.out.find("unsupported transfer syntax"), std::string::npos) << r.out;      // none left
  EXPECT_NE(r.out.find("colour image"), std::string::npos);
  EXPECT_EQ(test::ReadFile(out.File("summary.txt")), r.out.substr(r.out.find("Curia Node "), r.out.find("summary written") - r.out.find("Curia Node ")));
  // The Brainix FLAIR series: an SR, its HTML, and a key image per finding, in the study's folder.
  const std::string study = out.File("2.16.840.1.113669.632.20.1211.10000357775");
  const std::string flair = study + "/1.3.46.670589.11.0.0.11.4.2.0.8743.5.5396.2006120114285654497";
  for (const char* suffix : {"-sr.dcm", "-sr.html", "-sc-demo-finding.dcm", "-sc-demo-3d-finding.dcm"}) {
    EXPECT_TRUE(std::filesystem::exists(flair + suffix)) << flair << suffix;
  }
  EXPECT_NE(Shell("dciodvfy " + flair + "-sr.dcm").find("exit 0"), std::string::npos);
  EXPECT_NE(Shell("dsrdump " + flair + "-sr.dcm").find("exit 0"), std::string::npos);
  EXPECT_NE(Shell("dciodvfy " + flair + "-sc-demo-finding.dcm").find("exit 0"), std::string::npos);
  // The demo settings ask for heat maps: the 2-D task's key image has one, the 3-D task's cannot.
  EXPECT_NE(Shell("dcmdump +L +P 0008,2111 " + flair + "-sc-demo-finding.dcm").find("heat map"), std::string::npos);
  EXPECT_EQ(Shell("dcmdump +L +P 0008,2111 " + flair + "-sc-demo-3d-finding.dcm").find("heat map"), std::string::npos);
  EXPECT_NE(test::ReadFile(flair + "-sr.html").find("Probability of finding"), std::string::npos);
  // Run again: the same objects (same SOP Instance UIDs), so a re-sent result is not a new one.
  const std::string uid = Shell("dcmdump +P 0008,0018 " + flair + "-sr.dcm");
  TempDir again;
  ASSERT_EQ(Run({"run", dicom + "/Brainix", "--out", again.path()}).status, 0);
  EXPECT_EQ(Shell("dcmdump +P 0008,0018 " + again.path() + "/2.16.840.1.113669.632.20.1211.10000357775/"
                  "1.3.46.670589.11.0.0.11.4.2.0.8743.5.5396.2006120114285654497-sr.dcm"),
            uid);
}

TEST_F(CliRun, Jpeg2000CtIsProcessedAndThePetSeriesRefusedWithItsReason) {
  // ../shared/dicom/Comunix: a CT and a PET series of one study, both JPEG 2000 (lossy).
  TempDir out;
  const auto r = Run({"run", std::string(CURIA_SHARED_DIR) + "/dicom/Comunix", "--out", out.path()});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("1 series processed, 1 refused with their reason, 0 failed, 0 unreadable file(s)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("PT series 1.3.12.2.1107.5.1.4.36085.2.0.3752006615092156 \"PET WB\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("modality PT: only CT and MR are analysed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("transfer syntax"), std::string::npos) << r.out;
  const std::string ct = out.File("1.2.840.113745.101000.1008000.38048.4626.5933732/"
                                  "1.3.12.2.1107.5.1.4.36085.4.0.13457320123409917");
  EXPECT_NE(r.out.find("CT series 1.3.12.2.1107.5.1.4.36085.4.0.13457320123409917 \"CT HEAD/NK 5.0 B30s\""),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("done: 2 slices"), std::string::npos) << r.out;
  for (const char* suffix : {"-sr.dcm", "-sc-demo-finding.dcm"}) {
    ASSERT_TRUE(std::filesystem::exists(ct + suffix)) << ct << suffix;
    EXPECT_NE(Shell("dciodvfy " + ct + suffix).find("exit 0"), std::string::npos) << suffix;
  }
}

TEST_F(CliRun, ProgressBarOnATerminalLinesOtherwise) {
  TempDir out;
  const std::string command = std::string(CURIA_TOOL) + " run " + CURIA_SHARED_DIR + "/dicom/Brainix/Epi --out " +
                              out.path();
  const std::string env = "XDG_CACHE_HOME=" + cache_.path() + " ";
  const std::string tty = Shell("script -qec '" + env + command + "' /dev/null");
  EXPECT_NE(tty.find("slices/s"), std::string::npos) << tty;
  EXPECT_NE(tty.find('\r'), std::string::npos);
  const std::string plain = Shell(env + command + " < /dev/null 2>&1 | cat");
  EXPECT_EQ(plain.find("slices/s"), std::string::npos) << plain;
  EXPECT_NE(plain.find("MR series 1.3.46.670589.11.0.0.11.4.2.0.8743.5.5396.2006120114314125550: done"),
            std::string::npos)
      << plain;
}

TEST_F(CliRun, BadConfigurationAndEmptyFoldersAreClearErrors) {
  TempDir dir;
  test::WriteFile(dir.File("curia.json"), R"({"Curia": {"Model": {"Path": "/nowhere"}, "Tasks": {"x": {"Head": "h"}}}})");
  auto r = Run({"run", dir.path(), "--out", dir.File("out"), "--config", dir.File("curia.json")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(dir.File("curia.json") + ": $.Curia.Tasks.x.Finding: required member is missing"),
            std::string::npos)
      << r.err;
  r = Run({"run", dir.path(), "--out", dir.File("out")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(dir.path() + ": no DICOM files found"), std::string::npos) << r.err;
  // A volume of another modality is refused, with its reason, and that is a normal end.
  test::CopyFile("/usr/lib/python3/dist-packages/pydicom/data/test_files/rtdose.dcm", dir.File("dose.dcm"));
  r = Run({"run", dir.path(), "--out", dir.File("out")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("refused: modality RTDOSE: only CT and MR are analysed"), std::string::npos) << r.out;
}

// A file nested deeper than DCMTK 3.6.7 parses safely (it would crash the tool) is refused with its
// reason, and the folder's other series are processed; the tool does not die.
TEST_F(CliRun, AFileThatWouldCrashTheParserIsRefusedAndTheRestProcessed) {
  TempDir dir, out;
  std::filesystem::create_directories(dir.File("epi"));
  for (const auto& e : std::filesystem::directory_iterator(std::string(CURIA_SHARED_DIR) + "/dicom/Brainix/Epi")) {
    test::CopyFile(e.path().string(), dir.File("epi/" + e.path().filename().string()));
  }
  test::WriteFile(dir.File("deep.dcm"), test::NestedSequenceFile(100000, {}));  // ~5600 levels crash DCMTK 3.6.7
  test::WriteFile(dir.File("deep65.dcm"), test::NestedSequenceFile(65, {}));
  const auto r = Run({"run", dir.path(), "--out", out.path()});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("1 series processed, 0 refused with their reason, 0 failed, 2 unreadable file(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unreadable: " + dir.File("deep.dcm") + ": refused before parsing: sequence nesting deeper than 64 levels at offset "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("unreadable: " + dir.File("deep65.dcm") + ": refused before parsing: sequence nesting deeper than 64 levels at offset "),
            std::string::npos)
      << r.out;
}

#endif  // CURIA_WITH_POOL

TEST(Cli, BenchPoolWritesItsRatios) {
  TempDir dir;
  const auto r = RunTool({"bench", "pool", "--size", "tiny", "--rounds", "1", "--jobs", "2", "--slices", "2", "--image",
                          "64", "--rss-slices", "8,16", "--threads", "1", "--json", dir.File("pool.json")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("[pool_ratio]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[rss_ratio]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[features_ratio]"), std::string::npos) << r.out;
  const config::Json j = config::ParseJsonFile(dir.File("pool.json"));
  EXPECT_GT(config::Find(j, "pool_ratio")->asDouble(), 0.0);
  EXPECT_GT(config::Find(j, "features_ratio")->asDouble(), 0.0);
  EXPECT_GT(config::Find(j, "rss_ratio")->asDouble(), 0.0);
  EXPECT_EQ(config::Find(j, "rss_large_slices")->asInt64(), 16);
  // Every pool run between two raw runs: raw, pool, raw, features, raw.
  EXPECT_EQ(config::Find(j, "pool_ratios")->size(), 1u);
  EXPECT_EQ(config::Find(j, "features_ratios")->size(), 1u);
  EXPECT_EQ(config::Find(j, "raw_seconds_runs")->size(), 3u);
  EXPECT_NE(r.out.find("each run between two raw backbone runs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("spread"), std::string::npos) << r.out;
}

#ifdef CURIA_WITH_POOL
// `curia bench host` on tiny series: every series and path timed, figures positive and consistent.
TEST(Cli, BenchHostWritesItsFigures) {
  TempDir dir;
  const auto r = RunTool({"bench", "host", "--ct-size", "32", "--mr-size", "16", "--image-size", "32", "--slices", "3",
                          "--threads", "1,2", "--min-ms", "0", "--json", dir.File("host.json")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("[host_slices_per_second]"), std::string::npos) << r.out;
  const config::Json j = config::ParseJsonFile(dir.File("host.json"));
  EXPECT_EQ(config::Find(j, "benchmark")->asString(), "host");
  EXPECT_GT(config::Find(j, "host_slices_per_second")->asDouble(), 0.0);
  EXPECT_GT(config::Find(j, "host_cpu_slices_per_second")->asDouble(), 0.0);
  const config::Json& results = *config::Find(j, "results");
  ASSERT_EQ(results.size(), 16u);  // 4 series x 2 paths x 2 thread counts
  std::set<std::string> syntaxes;
  for (const config::Json& row : results) {
    syntaxes.insert(row["transfer_syntax"].asString());
    for (const char* key : {"slices_per_second", "slices_per_second_per_thread", "ms_per_slice",
                            "memcpy_slices_per_second", "memcpy_ratio", "bytes_per_slice", "slices_per_cpu_second",
                            "median_slices_per_second_per_thread"}) {
      EXPECT_GT(row[key].asDouble(), 0.0) << key << " of " << row["series"].asString();
    }
    EXPECT_NEAR(row["ms_per_slice"].asDouble() * row["slices_per_second_per_thread"].asDouble(), 1000.0, 1e-6);
    EXPECT_NEAR(row["slices_per_second"].asDouble(),
                row["slices_per_second_per_thread"].asDouble() * row["threads"].asDouble(), 1e-6);
  }
  EXPECT_EQ(syntaxes, (std::set<std::string>{"1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.5"}));
  const auto bad = RunTool({"bench", "host", "--series", "ct-jpeg2000"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown series 'ct-jpeg2000'"), std::string::npos) << bad.err;
}

// `curia phantom`: a series per call, UIDs fixed by --seed, printed for the user.
TEST(CliPhantom, WritesASeriesWhoseUidsTheSeedFixes) {
  TempDir dir;
  auto uid_line = [](const std::string& out, const std::string& label) {
    const size_t at = out.find(label);
    return at == std::string::npos ? std::string("(none)") : out.substr(at, out.find('\n', at) - at);
  };
  const auto a = RunTool({"phantom", "--out", dir.File("a"), "--slices", "3", "--size", "64", "--seed", "5"});
  ASSERT_EQ(a.status, 0) << a.err;
  const auto b = RunTool({"phantom", "--out", dir.File("b"), "--slices", "3", "--size", "64", "--seed", "5"});
  const auto c = RunTool({"phantom", "--out", dir.File("c"), "--slices", "3", "--size", "64", "--modality", "MR",
                          "--patient-name", "DOE^JANE", "--patient-id", "P1"});
  ASSERT_EQ(b.status, 0) << b.err;
  ASSERT_EQ(c.status, 0) << c.err;
  for (const char* label : {"Study Instance UID", "Series Instance UID"}) {
    EXPECT_NE(uid_line(a.out, label), "(none)") << a.out;
    EXPECT_EQ(uid_line(a.out, label), uid_line(b.out, label));
    EXPECT_NE(uid_line(a.out, label), uid_line(c.out, label));
  }
  EXPECT_NE(a.out.find(dir.File("a")), std::string::npos) << a.out;
  for (const char* f : {"a/slice-0001.dcm", "a/slice-0003.dcm", "c/slice-0003.dcm"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.File(f))) << f;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.File("a/slice-0004.dcm")));
  const std::string mr = test::ReadFile(dir.File("c/slice-0001.dcm"));
  EXPECT_NE(mr.find("1.2.840.10008.5.1.4.1.1.4"), std::string::npos);  // MR Image Storage
  EXPECT_NE(mr.find("DOE^JANE"), std::string::npos);

  auto r = RunTool({"phantom", "--out", dir.File("d"), "--modality", "US"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--modality must be CT or MR"), std::string::npos) << r.err;
  r = RunTool({"phantom", "--out", dir.File("d"), "--slices", "0"});
  EXPECT_EQ(r.status, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.File("d")));
}

// `curia features`: labelled studies -> a feature store; unreadable cases skipped with their reason,
// bad labels files refused with the line, a rerun after an interruption computes only what is missing.
// (The features' values against the backbone: PoolTest.FindingsEqualTheDirectComputation; the whole
// chain to a deployed head: tests/integration/test_training.py.)
TEST(CliFeatures, SkipsWhatItCannotReadAndResumes) {
  TempDir dir;
  ASSERT_EQ(RunTool({"demo-model", "--out", dir.File("model")}).status, 0);
  auto r = RunTool({"phantom", "--out", dir.File("data/lesion"), "--studies", "2", "--slices", "2", "--size", "32",
                    "--seed", "7", "--lesion", "random", "--lesion-mm", "15"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("data/lesion/study-002"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Patient ID          CURIA-PHANTOM-002"), std::string::npos) << r.out;
  ASSERT_EQ(RunTool({"phantom", "--out", dir.File("data/normal"), "--slices", "2", "--size", "32", "--seed", "8",
                     "--lesion", "none"}).status, 0);
  std::filesystem::create_directories(dir.File("data/empty"));
  test::WriteFile(dir.File("data/labels.csv"),
                  "case,label,split,group\n"
                  "lesion/study-001,1-lesion,train,p1\n"
                  "\"lesion/study-002\",1-lesion,test,p2\n"
                  "normal,0-normal,train,p3\n"
                  "empty,0-normal,test,p4\n"
                  "missing,0-normal,test,p5\n");
  const std::string store = dir.File("store");
  r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", store, "--model", dir.File("model")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("3 case(s) of 64 features; 2 skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("case empty (line 5): skipped: no DICOM files in the folder"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("case missing (line 6): skipped: no such folder"), std::string::npos) << r.err;
  const config::Json index = config::ParseJsonFile(store + "/index.json");
  ASSERT_EQ(index["cases"].size(), 3u);
  EXPECT_EQ(index["cases"][1]["id"].asString(), "lesion/study-002");
  EXPECT_EQ(index["cases"][1]["split"].asString(), "test");
  EXPECT_EQ(index["cases"][2]["group"].asString(), "p3");
  const config::Json extraction = config::ParseJsonFile(store + "/extraction.json");
  ASSERT_EQ(extraction["skipped"].size(), 2u);
  EXPECT_EQ(extraction["skipped"][1]["line"].asInt(), 6);
  EXPECT_EQ(extraction["normalization"].asString(), "per-slice");
  const std::vector<float> features = Read(store + "/features.safetensors", "features");
  ASSERT_EQ(features.size(), 3u * 64u);

  // An interrupted run: the last case's line cut short. The rerun computes that case alone, the same
  std::string cache = test::ReadFile(store + "/cases.jsonl");
  cache.resize(cache.size() - 40);
  test::WriteFile(store + "/cases.jsonl", cache);
  r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", store, "--model", dir.File("model")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("2 already done"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("an incomplete line"), std::string::npos) << r.err;
  // (to float rounding: the slices share batches with other cases differently)
  EXPECT_TRUE(test::AllClose(Read(store + "/features.safetensors", "features"), features, 1e-5));
  // Another normalisation does not mix with the cases already there.
  r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", store, "--model", dir.File("model"),
               "--normalization", "per-volume"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("made with normalization \"per-slice\""), std::string::npos) << r.err;

  // Bad labels files: the line and what is wrong.
  const std::pair<const char*, const char*> bad[] = {
      {"case,label,diagnosis\nnormal,0,x\n", "labels.csv:1: unknown column 'diagnosis'"},
      {"case,split\nnormal,train\n", "the header must name the column 'case' and one of 'label'"},
      {"case,label\nnormal,0\nnormal,1\n", "labels.csv:3: case 'normal' is listed twice"},
      {"case,target\nnormal,big\n", "labels.csv:2: case 'normal': target 'big' is not a number"},
      {"case,label\nnormal\n", "labels.csv:2: 1 fields, the header has 2"},
      {"case,label\n", "no case below the header"},
  };
  for (const auto& [text, message] : bad) {
    test::WriteFile(dir.File("data/labels.csv"), text);
    r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", dir.File("bad"), "--model", dir.File("model")});
    EXPECT_EQ(r.status, 1) << text;
    EXPECT_NE(r.err.find(message), std::string::npos) << text << ": " << r.err;
  }
  r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", dir.File("bad")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("give --model DIR or --config FILE"), std::string::npos) << r.err;
}

// `curia features --like HEAD`: the 3-D head's attention-module input per case (a "tokens3d" store;
// the values against the head: PoolTest.FindingsEqualTheDirectComputation), on which `curia
// train-head` trains a 3-D head that `curia run` (the node's loader) then runs; a series too short
// for the head's window is skipped with the reason.
TEST(CliFeatures, ThreeDimensionalTokensTrainAHeadThatRuns) {
  TempDir dir;
  ASSERT_EQ(RunTool({"demo-model", "--out", dir.File("model")}).status, 0);
  ASSERT_EQ(RunTool({"phantom", "--out", dir.File("data/a"), "--studies", "2", "--slices", "6", "--size", "32", "--seed", "3",
                     "--lesion", "random", "--lesion-mm", "15"}).status, 0);
  ASSERT_EQ(RunTool({"phantom", "--out", dir.File("data/b"), "--studies", "2", "--slices", "6", "--size", "32", "--seed", "9",
                     "--lesion", "none"}).status, 0);
  ASSERT_EQ(RunTool({"phantom", "--out", dir.File("data/short"), "--slices", "4", "--size", "32", "--seed", "1"}).status, 0);
  test::WriteFile(dir.File("data/labels.csv"),
                  "case,label\na/study-001,lesion\nb/study-001,normal\na/study-002,lesion\nb/study-002,normal\nshort,normal\n");
  const std::string store = dir.File("store");
  auto r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", store, "--model", dir.File("model"),
                    "--like", dir.File("model/demo-3d")});
  ASSERT_EQ(r.status, 0) << r.err;
  // demo-3d: a window of 5 slices, 8 x 8 average-pooled tokens (16 of a 32 x 32 grid) and the CLS each.
  EXPECT_NE(r.out.find("4 case(s) of 340 token rows of 64 features; 1 skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("case short: skipped: task features: the volume has 4 slice(s): too few for the head's window"),
            std::string::npos) << r.err;
  const config::Json index = config::ParseJsonFile(store + "/index.json");
  EXPECT_EQ(index["feature"].asString(), "tokens3d");
  EXPECT_EQ(index["head_config"]["num_slices"].asInt(), 5);
  r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", store, "--model", dir.File("model")});
  EXPECT_EQ(r.status, 1);  // CLS features into a store of 3-D tokens: refused
  EXPECT_NE(r.err.find("made with feature"), std::string::npos) << r.err;
  r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", dir.File("x"), "--model", dir.File("model"),
               "--like", dir.File("model/demo-2d")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("is a 2-D head"), std::string::npos) << r.err;

  r = RunTool({"train-head", "--features", store, "--split", "", "--out", dir.File("head3d"), "--like", dir.File("model/demo-3d"),
               "--epochs", "2", "--batch", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  test::WriteFile(dir.File("config.json"), R"({"Curia": {"Model": {"Path": ")" + dir.File("model") +
                                               R"("}, "Tasks": {"trained-3d": {"Head": ")" + dir.File("head3d") +
                                               R"(", "Finding": {"Code": "T3", "Scheme": "99CURIA", "Meaning": "Trained 3-D"}}}}})");
  r = RunTool({"run", dir.File("data/a/study-001"), "--out", dir.File("out"), "--config", dir.File("config.json"), "--json",
               dir.File("findings.json")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("1 series processed"), std::string::npos) << r.out;
  const std::string findings = test::ReadFile(dir.File("findings.json"));
  EXPECT_NE(findings.find("trained-3d"), std::string::npos) << findings.substr(0, 2000);
}

// `curia features --like MASK-HEAD` with a segment column: per case the masked mean of the patch
// tokens under its segment (the values against the head: PoolTest.RegionTasksShare...), from the
// case folder's SEG; a case without that segment is skipped, naming the segments it has; the head
// `curia train-head` makes from it is a mask head that `curia run` runs on the segment.
TEST(CliFeatures, RegionFeaturesTrainAMaskHead) {
  TempDir dir;
  ASSERT_EQ(RunTool({"demo-model", "--out", dir.File("model")}).status, 0);
  ASSERT_EQ(RunTool({"phantom", "--out", dir.File("data/l"), "--studies", "4", "--slices", "4", "--size", "64", "--seed", "5",
                     "--lesion", "random", "--lesion-mm", "15", "--seg"}).status, 0);
  ASSERT_EQ(RunTool({"phantom", "--out", dir.File("data/n"), "--slices", "4", "--size", "64", "--seed", "6", "--lesion", "none",
                     "--rtstruct"}).status, 0);
  test::WriteFile(dir.File("data/labels.csv"),
                  "case,label,segment\nl/study-001,a,Lesion\nl/study-002,b,lesion\nl/study-003,a,Lesion\n"
                  "l/study-004,b,Lesion\nn,a,Lesion\n");
  const std::string store = dir.File("store");
  auto r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", store, "--model", dir.File("model"),
                    "--like", dir.File("model/demo-mask")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("4 case(s) of 64 features; 1 skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("case n (line 6): skipped: no segment 'Lesion' on series"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(its segments: 'Grey matter', "), std::string::npos) << r.err;
  const config::Json extraction = config::ParseJsonFile(store + "/extraction.json");
  EXPECT_EQ(extraction["cases"][0]["regions"].asString(), "SEG 7");
  EXPECT_GE(extraction["cases"][0]["region_slices"].asInt(), 1);
  // A segment without --like, and --like a mask head without segments: refused with the line.
  r = RunTool({"features", "--labels", dir.File("data/labels.csv"), "--out", dir.File("x"), "--model", dir.File("model")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("labels.csv:2: a segment is given: region features need --like"), std::string::npos) << r.err;

  r = RunTool({"train-head", "--features", store, "--split", "", "--out", dir.File("head"), "--folds", "2", "--grid", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(model::LoadHeadConfig(dir.File("head/config.json")).requires_mask);
  test::WriteFile(dir.File("config.json"), R"({"Curia": {"Model": {"Path": ")" + dir.File("model") +
                                               R"("}, "Tasks": {"lesion-class": {"Head": ")" + dir.File("head") +
                                               R"(", "Region": {"Label": "Lesion"}, "Finding": {"Code": "LC", "Scheme": "99CURIA", "Meaning": "Lesion class"}}}}})");
  r = RunTool({"run", dir.File("data/l/study-002"), "--out", dir.File("out"), "--config", dir.File("config.json"), "--json",
               dir.File("findings.json")});
  ASSERT_EQ(r.status, 0) << r.err;
  const config::Json findings = config::ParseJsonFile(dir.File("findings.json"));
  const std::string text = config::Dump(findings);
  EXPECT_NE(text.find("lesion-class"), std::string::npos) << text.substr(0, 2000);
  EXPECT_NE(text.find("\"Label\": \"Lesion\""), std::string::npos) << text.substr(0, 2000);
}

// `curia phantom --seg --rtstruct`: the regions next to the series, in its study (the objects
// themselves are checked in tests/unit/phantom/regions_test.cpp).
TEST(CliPhantom, WritesRegionsOfTheSeriesOnRequest) {
  TempDir dir;
  const auto r = RunTool({"phantom", "--out", dir.File("p"), "--slices", "4", "--size", "64", "--seed", "3", "--seg",
                          "--rtstruct"});
  ASSERT_EQ(r.status, 0) << r.err;
  // Four slices 5 mm apart span z = -7.5..7.5 mm: every structure but the lesion (z 13 to 31 mm).
  EXPECT_NE(r.out.find("SEG                 " + dir.File("p/seg.dcm") + " (6 segments, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RTSTRUCT            " + dir.File("p/rtstruct.dcm") + " (6 ROIs, "), std::string::npos) << r.out;
  const std::string study = r.out.substr(r.out.find("Study Instance UID  ") + 20, 20);
  for (const char* f : {"p/seg.dcm", "p/rtstruct.dcm"}) {
    const std::string bytes = test::ReadFile(dir.File(f));
    EXPECT_NE(bytes.find(study), std::string::npos) << f;
  }
  const auto plain = RunTool({"phantom", "--out", dir.File("q"), "--slices", "2", "--size", "32"});
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("q/seg.dcm")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("q/rtstruct.dcm")));
}

// `curia run` on a phantom series with its SEG and RTSTRUCT: the demo region task gives one result
// per segment and per ROI (the backbone once per slice: tests/unit/pool); the objects are not
// series of their own. pydicom's SEG alone: refused because its series is not there.
TEST_F(CliRun, RegionObjectsGiveOneResultPerRegionOrTheirRefusal) {
  TempDir dir;
  auto r = RunTool({"phantom", "--out", dir.File("p"), "--slices", "4", "--size", "64", "--seed", "3", "--seg", "--rtstruct"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = Run({"run", dir.File("p"), "--out", dir.File("out")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("1 series processed, 0 refused with their reason, 0 failed, 0 unreadable file(s)\n"
                       "2 region object(s) (SEG, RTSTRUCT): 2 read, 0 refused with their reason"),
            std::string::npos)
      << r.out;
  // Six structures on these four slices (the lesion lies above them), in each object.
  for (const char* kind : {"SEG segment ", "RTSTRUCT ROI "}) {
    for (int n = 1; n <= 6; ++n) {
      const std::string line = "  demo-region: " + std::string(kind) + std::to_string(n) + " \"";
      const size_t at = r.out.find(line);
      ASSERT_NE(at, std::string::npos) << line << "\n" << r.out;
      const std::string rest = r.out.substr(at, r.out.find('\n', at) - at);
      EXPECT_NE(rest.find("Demo region class (meaningless)"), std::string::npos) << rest;
      EXPECT_NE(rest.find(", predicted class region "), std::string::npos) << rest;
      EXPECT_NE(rest.find("agreement with its label n/a (not a class of the head)"), std::string::npos) << rest;
    }
    EXPECT_EQ(r.out.find("  demo-region: " + std::string(kind) + "7 "), std::string::npos) << r.out;
  }
  EXPECT_NE(r.out.find("SEG " + dir.File("p/seg.dcm") + "\n  6 region(s) on series "), std::string::npos) << r.out;

  TempDir liver;
  std::filesystem::copy_file("/usr/lib/python3/dist-packages/pydicom/data/test_files/liver_1frame.dcm",
                             liver.File("liver_1frame.dcm"));
  r = Run({"run", liver.path(), "--out", dir.File("out2")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("0 series processed, 0 refused with their reason, 0 failed, 0 unreadable file(s)\n"
                       "1 region object(s) (SEG, RTSTRUCT): 0 read, 1 refused with their reason"),
            std::string::npos)
      << r.out;
  const std::string file = liver.File("liver_1frame.dcm");
  EXPECT_NE(r.out.find("SEG " + file + "\n  refused: " + file + ": the SEG's referenced series "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" is not present"), std::string::npos) << r.out;
}

// The same slice and mask give the same answer through `curia head` and through the worker pool
// (`curia run`, as the node runs region jobs: JobRequest::regions). The phantom's SEG goes through
// `curia run --json`; the same series and SEG read by pydicom (tests/cli/seg_slices.py: frames placed
// by position, not by DCMTK or our readers) give each segment's slices and masks, which go through
// `curia preprocess`, model::MaskResizer (the trainer's resize, as the pool applies it) and
// `curia head` with the demo mask head. Per segment, the mean over its slices of `curia head`'s class
// probabilities equals the pool's region finding to 1e-5.
TEST_F(CliRun, MaskHeadGivesTheSameThroughCuriaHeadAndThePool) {
  TempDir dir;
  constexpr int64_t kMinPixels = 16;  // Region.MinPixels' default: the slices a region task runs on
  auto r = RunTool({"phantom", "--out", dir.File("p"), "--slices", "3", "--size", "64", "--seed", "11", "--seg"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = Run({"run", dir.File("p"), "--out", dir.File("out"), "--json", dir.File("run.json")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const config::Json run = config::ParseJsonFile(dir.File("run.json"));
  const config::Json& series = (*config::Find(run, "series"))[0];
  ASSERT_EQ(config::Find(series, "status")->asString(), "done") << config::Dump(run);

  const test::ShellResult py = test::RunShell("/usr/bin/python3 " + test::TestDataPath("cli/seg_slices.py") + " " +
                                              dir.File("p") + " " + dir.File("p/seg.dcm") + " " + dir.File("slices.safetensors"));
  ASSERT_EQ(py.status, 0) << py.output;
  auto slices = model::SafetensorsFile::Open(dir.File("slices.safetensors"));
  const int64_t count = config::Find(series, "slices")->asInt64();
  ASSERT_EQ(count, 3);
  // The slices preprocessed as the processor does it (numpy path, per-slice z-score), as the pool does.
  r = RunTool({"preprocess", "--input", dir.File("slices.safetensors"), "--output", dir.File("pv.safetensors"), "--size",
               "512"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<float> pixels = Read(dir.File("pv.safetensors"), "pixel_values");
  const int64_t size = 512, plane = size * size;
  ASSERT_EQ(static_cast<int64_t>(pixels.size()), count * plane);
  const std::string model = cache_.File("curia/demo-model");

  // Every segment's (slice, mask) pairs in one `curia head` input, rows [first, first + used).
  struct Segment {
    const config::Json* finding;
    int64_t number, first, used;
  };
  std::vector<Segment> segments;
  std::vector<float> input, masks;
  model::MaskResizer resizer(64, 64, size);
  int64_t rows = 0;
  for (const config::Json& f : *config::Find(*config::Find(series, "findings"), "Tasks")) {
    const config::Json* region = config::Find(f, "Region");
    if (!region || config::Find(f, "Task")->asString() != "demo-region") continue;
    Segment seg{&f, config::Find(*region, "Number")->asInt64(), rows, 0};
    for (int64_t k = 0; k < count; ++k) {
      const std::vector<float> m = model::ToFloat32(slices->Get("mask_" + std::to_string(seg.number) + "_" + std::to_string(k)));
      std::vector<uint8_t> binary(m.size());
      int64_t area = 0;
      for (size_t i = 0; i < m.size(); ++i) area += binary[i] = m[i] != 0.0f ? 1 : 0;
      EXPECT_EQ(area, (*config::Find(*region, "SlicePixels"))[static_cast<int>(k)].asInt64())
          << "segment " << seg.number << ", slice " << k;
      if (area < kMinPixels) continue;  // the pool does not run the head there
      ++seg.used;
      ++rows;
      input.insert(input.end(), pixels.begin() + k * plane, pixels.begin() + (k + 1) * plane);
      masks.resize(static_cast<size_t>(rows * plane));
      resizer.Resize(binary.data(), masks.data() + (rows - 1) * plane);
    }
    EXPECT_EQ(seg.used, config::Find(*region, "SlicesUsed")->asInt64()) << "segment " << seg.number;
    segments.push_back(seg);
  }
  ASSERT_GE(segments.size(), 5u) << config::Dump(run);  // the structures on these slices
  model::SafetensorsWriter writer;
  writer.AddFloat32("pixel_values", {rows, 1, size, size}, input);
  writer.AddFloat32("mask", {rows, 1, size, size}, masks);
  writer.Write(dir.File("head-in.safetensors"));
  r = RunTool({"head", "--model", model, "--head", model + "/demo-mask", "--input", dir.File("head-in.safetensors"),
               "--output", dir.File("head-out.safetensors")});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<float> p = Read(dir.File("head-out.safetensors"), "probabilities");  // (rows, classes)
  for (const Segment& seg : segments) {
    const config::Json& pool = *config::Find(*seg.finding, "ClassProbabilities");
    const int64_t classes = static_cast<int64_t>(pool.size());
    ASSERT_EQ(static_cast<int64_t>(p.size()), rows * classes);
    ASSERT_GT(seg.used, 0);
    for (int64_t c = 0; c < classes; ++c) {
      double mean = 0;
      for (int64_t s = seg.first; s < seg.first + seg.used; ++s) mean += p[static_cast<size_t>(s * classes + c)];
      mean /= static_cast<double>(seg.used);
      EXPECT_NEAR(pool[static_cast<int>(c)].asDouble(), mean, 1e-5) << "segment " << seg.number << ", class " << c;
    }
  }
  // The comparison sees the masks: the segments' answers differ far beyond the tolerance.
  double spread = 0;
  for (const Segment& seg : segments) {
    spread = std::max(spread, std::abs((*config::Find(*seg.finding, "ClassProbabilities"))[0].asDouble() -
                                       (*config::Find(*segments[0].finding, "ClassProbabilities"))[0].asDouble()));
  }
  EXPECT_GT(spread, 1e-3);
}

// `curia bench region`: runs with tiny sizes and writes its ratio (its value is the benchmark's
// business, not this test's: docs/performance.md).
TEST(Cli, BenchRegionWritesItsRatio) {
  TempDir dir;
  const auto r = RunTool({"bench", "region", "--size", "tiny", "--slices", "2", "--image", "64", "--segments", "3",
                          "--rounds", "1", "--threads", "1", "--json", dir.File("region.json")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("[region_ratio]"), std::string::npos) << r.out;
  const config::Json j = config::ParseJsonFile(dir.File("region.json"));
  EXPECT_GT(config::Find(j, "region_ratio")->asDouble(), 0.0);
  EXPECT_GT(config::Find(j, "plain_slices_per_second")->asDouble(), 0.0);
  EXPECT_GT(config::Find(j, "region_slices_per_second")->asDouble(), 0.0);
  // Three segments on every slice, one backbone pass per slice.
  EXPECT_EQ(config::Find(j, "region_findings")->asInt64(), 3);
  EXPECT_EQ(config::Find(j, "region_backbone_slices")->asInt64(), 2);
  EXPECT_EQ(config::Find(j, "plain_backbone_slices")->asInt64(), 2);
}

// `curia init`: the written configuration, as Orthanc and the plugin's own parser read it.
class CliInit : public ::testing::Test {
 protected:
  // orthanc.json without its comments, parsed (strict JSON) as Orthanc reads it.
  config::Json Load(const std::string& node) {
    const std::string text = test::ReadFile(node + "/orthanc.json");
    EXPECT_NE(text.find("// "), std::string::npos);  // commented
    return config::ParseJson(text, node + "/orthanc.json", config::JsonDialect::kOrthanc);
  }
  TempDir dir_;
};

TEST_F(CliInit, WritesAConfigurationOrthancAndTheNodeAccept) {
  const std::string node = dir_.File("node");
  const auto r = RunTool({"init", "--out", node, "--pacs", "PACS@127.0.0.1:4343", "--aet", "CURIA_T", "--dicom-port",
                          "14242", "--http-port", "18042", "--plugin", dir_.File("missing.so")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("DEMO"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("warning: the plugin " + dir_.File("missing.so") + " does not exist"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TCP_NODELAY=1 Orthanc " + node + "/orthanc.json"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(node + "/demo-model/config.json"));
  EXPECT_TRUE(std::filesystem::exists(node + "/demo-model/demo-2d/model.safetensors"));

  const config::Json doc = Load(node);
  EXPECT_EQ(config::Find(doc, "DicomAet")->asString(), "CURIA_T");
  EXPECT_EQ(config::Find(doc, "DicomPort")->asInt64(), 14242);
  EXPECT_EQ(config::Find(doc, "HttpPort")->asInt64(), 18042);
  EXPECT_EQ(config::Find(doc, "StorageDirectory")->asString(), node + "/storage");
  EXPECT_EQ(config::Find(doc, "IndexDirectory")->asString(), node + "/index");
  EXPECT_FALSE(config::Find(doc, "RemoteAccessAllowed")->asBool());
  EXPECT_FALSE(config::Find(doc, "AuthenticationEnabled")->asBool());
  EXPECT_EQ(config::Find(doc, "StableAge")->asInt64(), 5);
  EXPECT_EQ(config::Find(doc, "DicomScuTimeout")->asInt64(), 10);
  EXPECT_EQ((*config::Find(doc, "Plugins"))[0].asString(), dir_.File("missing.so"));
  // Orthanc's GDCM plugin (orthanc-gdcm, which install-deps installs) is listed when installed.
  const bool gdcm = std::filesystem::exists("/usr/share/orthanc/plugins/libOrthancGdcm.so");
  ASSERT_EQ(config::Find(doc, "Plugins")->size(), gdcm ? 2u : 1u);
  if (gdcm) {
    EXPECT_EQ((*config::Find(doc, "Plugins"))[1].asString(), "/usr/share/orthanc/plugins/libOrthancGdcm.so");
    EXPECT_NE(test::ReadFile(node + "/orthanc.json").find("Orthanc's GDCM plugin"), std::string::npos);
  }
  const config::Json& pacs = *config::Find(*config::Find(doc, "DicomModalities"), "pacs");
  EXPECT_EQ(config::Find(pacs, "AET")->asString(), "PACS");
  EXPECT_EQ(config::Find(pacs, "Host")->asString(), "127.0.0.1");
  EXPECT_EQ(config::Find(pacs, "Port")->asInt64(), 4343);

  // The Curia section, through the node's own parser.
  const config::CuriaSettings s = config::LoadCuriaSettings(node + "/orthanc.json");
  EXPECT_EQ(s.database, node + "/curia.sqlite");
  EXPECT_EQ(s.model.path, node + "/demo-model");
  ASSERT_EQ(s.tasks.size(), 3u);
  EXPECT_EQ(s.tasks[0].name, "demo-finding");
  EXPECT_EQ(s.tasks[1].name, "demo-3d-finding");
  EXPECT_EQ(s.tasks[2].name, "demo-region");
  ASSERT_TRUE(s.tasks[2].region.has_value());
  EXPECT_TRUE(s.tasks[2].region->from_seg && s.tasks[2].region->from_rtstruct);
  ASSERT_EQ(s.rules.size(), 1u);
  EXPECT_EQ(s.rules[0].name, "ct-and-mr");
  EXPECT_EQ(s.rules[0].tasks, (std::vector<std::string>{"demo-finding", "demo-3d-finding", "demo-region"}));
  EXPECT_EQ(s.rules[0].outputs, (std::vector<std::string>{"SR", "SC"}));
  EXPECT_EQ(s.rules[0].destinations, (std::vector<std::string>{"pacs"}));
  ASSERT_TRUE(s.rules[0].match.has_value());
  EXPECT_EQ(s.rules[0].match->tag, "Modality");
  EXPECT_EQ(s.rules[0].match->values, (std::vector<std::string>{"CT", "MR"}));
  EXPECT_TRUE(s.dicom.key_images_for_all);
  EXPECT_TRUE(s.dicom.heat_map);

  // Only listed modalities may send (the PACS here), from their address: an unknown caller's
  // association is refused before Orthanc parses anything (its DCMTK 3.6.7 can crash on a file).
  EXPECT_FALSE(config::Find(doc, "DicomAlwaysAllowStore")->asBool());
  EXPECT_FALSE(config::Find(doc, "DicomAlwaysAllowEcho")->asBool());
  EXPECT_FALSE(config::Find(doc, "DicomAlwaysAllowFind")->asBool());
  EXPECT_FALSE(config::Find(doc, "DicomAlwaysAllowMove")->asBool());
  EXPECT_FALSE(config::Find(doc, "DicomAlwaysAllowGet")->asBool());
  EXPECT_TRUE(config::Find(doc, "DicomCheckModalityHost")->asBool());
  EXPECT_EQ(config::Find(doc, "DicomModalities")->size(), 1u);
  EXPECT_NE(r.out.find("studies accepted from PACS@127.0.0.1\n"), std::string::npos) << r.out;

  const std::string readme = test::ReadFile(node + "/README.txt");
  EXPECT_NE(readme.find("TCP_NODELAY=1 Orthanc " + node + "/orthanc.json"), std::string::npos) << readme;
  EXPECT_NE(readme.find("storescu on this machine is refused"), std::string::npos) << readme;
  EXPECT_NE(readme.find("http://127.0.0.1:18042/curia/jobs"), std::string::npos) << readme;
}

TEST_F(CliInit, ARealModelGetsNoTasksAndNoPacsNoDestination) {
  const std::string node = dir_.File("node");
  const std::string model = dir_.File("curia-b");  // not downloaded yet
  const auto r = RunTool({"init", "--out", node, "--model", model, "--plugin", dir_.File("p.so")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find(model + "/config.json does not exist"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(node + "/demo-model"));
  const config::Json doc = Load(node);
  EXPECT_EQ(config::Find(doc, "DicomAet")->asString(), "CURIA");
  EXPECT_EQ(config::Find(doc, "DicomPort")->asInt64(), 4242);
  EXPECT_EQ(config::Find(doc, "HttpPort")->asInt64(), 8042);
  EXPECT_TRUE(config::Find(doc, "DicomModalities")->isObject());
  EXPECT_EQ(config::Find(doc, "DicomModalities")->size(), 0u);
  const config::CuriaSettings s = config::LoadCuriaSettings(node + "/orthanc.json");
  EXPECT_EQ(s.model.path, model);
  EXPECT_TRUE(s.tasks.empty());
  EXPECT_TRUE(s.rules.empty());
  EXPECT_NE(test::ReadFile(node + "/orthanc.json").find("add one task per head"), std::string::npos);

  // A demo model given with --model keeps the demo tasks (they name its heads).
  ASSERT_EQ(RunTool({"demo-model", "--out", dir_.File("demo")}).status, 0);
  ASSERT_EQ(RunTool({"init", "--out", dir_.File("node3"), "--model", dir_.File("demo"), "--plugin", "p.so"}).status, 0);
  Load(dir_.File("node3"));
  EXPECT_EQ(config::LoadCuriaSettings(dir_.File("node3") + "/orthanc.json").tasks.size(), 3u);
}

TEST_F(CliInit, ModalitiesAllowedToSendAndTheOpenSetting) {
  const std::string node = dir_.File("node");
  auto r = RunTool({"init", "--out", node, "--plugin", "p.so", "--allow-store", "CT1@10.0.0.7", "--allow-store",
                    "STORESCU@127.0.0.1:11112", "--allow-store", "MR@mr.example", "--allow-store", "CT1@[fd00::7]"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  config::Json doc = Load(node);
  EXPECT_FALSE(config::Find(doc, "DicomAlwaysAllowStore")->asBool());
  EXPECT_TRUE(config::Find(doc, "DicomCheckModalityHost")->asBool());
  const config::Json& m = *config::Find(doc, "DicomModalities");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(config::Find(*config::Find(m, "from-ct1"), "Host")->asString(), "10.0.0.7");
  EXPECT_EQ(config::Find(*config::Find(m, "from-ct1"), "Port")->asInt64(), 104);
  EXPECT_EQ(config::Find(*config::Find(m, "from-storescu"), "AET")->asString(), "STORESCU");
  EXPECT_EQ(config::Find(*config::Find(m, "from-storescu"), "Port")->asInt64(), 11112);
  EXPECT_EQ(config::Find(*config::Find(m, "from-ct1-2"), "Host")->asString(), "fd00::7");
  // A host name never matches Orthanc's check of the caller's address: said, not silently kept.
  EXPECT_NE(r.out.find("warning: from-mr (MR) has the host name 'mr.example'"), std::string::npos) << r.out;
  EXPECT_NE(test::ReadFile(node + "/README.txt").find("storescu -aet STORESCU -aec CURIA 127.0.0.1 4242"), std::string::npos);

  // The open setting, for trials, with a warning.
  r = RunTool({"init", "--out", node, "--plugin", "p.so", "--force", "--allow-any-store"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  doc = Load(node);
  EXPECT_TRUE(config::Find(doc, "DicomAlwaysAllowStore")->asBool());
  EXPECT_FALSE(config::Find(doc, "DicomCheckModalityHost")->asBool());
  EXPECT_NE(r.out.find("warning: --allow-any-store: any AE title from any address may send"), std::string::npos) << r.out;

  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--allow-store", "CT1"}, "--allow-store must be AET@HOST[:PORT]"},
      {{"--allow-store", "CT1@10.0.0.7:0"}, "--allow-store port must be a port number"},
      {{"--allow-store", "@10.0.0.7"}, "the AE title is empty"},
      {{"--allow-store", "CT1@10.0.0.7", "--allow-any-store"}, "--allow-any-store and --allow-store exclude each other"},
  };
  for (const auto& [extra, message] : bad) {
    std::vector<std::string> args = {"init", "--out", dir_.File("bad")};
    args.insert(args.end(), extra.begin(), extra.end());
    r = RunTool(args);
    EXPECT_EQ(r.status, 2) << extra[1];
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
}

// `curia init --postgresql`: a cluster node's configuration, valid for `curia validate-config`, with
// orthanc-postgresql's section (Lock false, index and files in the database, the node's name as
// DatabaseServerIdentifier), Curia's URL reading the password from a 0600 libpq password file, and
// the password printed nowhere.
TEST_F(CliInit, AClusterNodeOnPostgresql) {
  const std::string node = dir_.File("cluster-a");
  const std::string secret = "s3cr:et\\pw";
  test::WriteFile(dir_.File("pw"), secret + "\n");
  const auto r = RunTool({"init", "--out", node, "--plugin", dir_.File("plugin.so"), "--postgresql",
                          "postgresql://curia@db.example:5433/clusterdb", "--node-name", "gpu-1", "--password-file",
                          dir_.File("pw")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("cluster node gpu-1, database postgresql://db.example:5433/clusterdb as curia"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("orthanc-postgresql's /usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"), std::string::npos)
      << r.out;

  const config::Json doc = Load(node);
  EXPECT_EQ(config::Find(doc, "DatabaseServerIdentifier")->asString(), "gpu-1");
  const config::Json& pg = *config::Find(doc, "PostgreSQL");
  EXPECT_FALSE(config::Find(pg, "Lock")->asBool());
  EXPECT_TRUE(config::Find(pg, "EnableIndex")->asBool());
  EXPECT_TRUE(config::Find(pg, "EnableStorage")->asBool());
  EXPECT_EQ(config::Find(pg, "Host")->asString(), "db.example");
  EXPECT_EQ(config::Find(pg, "Port")->asInt64(), 5433);
  EXPECT_EQ(config::Find(pg, "Database")->asString(), "clusterdb");
  EXPECT_EQ(config::Find(pg, "Username")->asString(), "curia");
  EXPECT_EQ(config::Find(pg, "Password")->asString(), secret);
  const config::Json& plugins = *config::Find(doc, "Plugins");
  std::vector<std::string> listed;
  for (const auto& v : plugins) listed.push_back(v.asString());
  EXPECT_NE(std::find(listed.begin(), listed.end(), "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"), listed.end());
  EXPECT_NE(std::find(listed.begin(), listed.end(), "/usr/share/orthanc/plugins/libOrthancPostgreSQLStorage.so"), listed.end());

  const config::CuriaSettings s = config::LoadCuriaSettings(node + "/orthanc.json");
  EXPECT_EQ(s.node_name, "gpu-1");
  EXPECT_EQ(s.database, "postgresql://curia@db.example:5433/clusterdb?passfile=" + node + "/curia.pgpass");
  // libpq's password file: host:port:database:user:password, ':' and '\\' escaped.
  EXPECT_EQ(test::ReadFile(node + "/curia.pgpass"), "db.example:5433:clusterdb:curia:s3cr\\:et\\\\pw\n");
  const auto mode = [](const std::string& f) { return std::filesystem::status(f).permissions() & std::filesystem::perms::all; };
  EXPECT_EQ(mode(node + "/curia.pgpass"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(mode(node + "/orthanc.json"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  test::WriteFile(dir_.File("plugin.so"), "not a plugin, but it exists");
  const auto v = RunTool({"validate-config", node + "/orthanc.json", "--skip-model"});
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("valid Curia Node configuration"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("  node          gpu-1\n"), std::string::npos) << v.out;
  EXPECT_EQ(v.out.find(secret), std::string::npos) << v.out;

  // Bad URLs and missing companions: a clear message each, nothing written.
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--postgresql", "mysql://curia:pw@h/db"}, "'mysql://curia:***@h/db': it does not start with postgresql://"},
      {{"--postgresql", "postgresql://curia:pw@h/db"}, "holds a password"},
      {{"--postgresql", "postgresql://h/db"}, "no USER@ before the host"},
      {{"--postgresql", "postgresql://curia@h"}, "no /DATABASE after the host"},
      {{"--postgresql", "postgresql://curia@h:99999/db"}, "port must be a port number"},
      {{"--postgresql", "postgresql://curia@/db"}, "the host is empty"},
      {{"--postgresql", "postgresql://curia@h/db?sslmode=require"}, "parameters (?...) are not taken here"},
  };
  for (const auto& [args, message] : bad) {
    std::vector<std::string> all = {"init", "--out", dir_.File("bad"), "--plugin", "p.so", "--node-name", "n1",
                                    "--password-file", dir_.File("pw")};
    all.insert(all.end(), args.begin(), args.end());
    const auto b = RunTool(all);
    EXPECT_NE(b.status, 0) << message;
    EXPECT_NE(b.err.find(message), std::string::npos) << b.err;
    EXPECT_EQ(b.err.find("pw@"), std::string::npos) << b.err;
    EXPECT_FALSE(std::filesystem::exists(dir_.File("bad") + "/orthanc.json"));
  }
  const std::string url = "postgresql://curia@h/db";
  auto b = RunTool({"init", "--out", dir_.File("bad"), "--postgresql", url, "--password-file", dir_.File("pw")});
  EXPECT_NE(b.err.find("--postgresql needs --node-name"), std::string::npos) << b.err;
  b = RunTool({"init", "--out", dir_.File("bad"), "--postgresql", url, "--node-name", "n1"});
  EXPECT_NE(b.err.find("--postgresql needs --password-file"), std::string::npos) << b.err;
  b = RunTool({"init", "--out", dir_.File("bad"), "--postgresql", url, "--node-name", "a/b", "--password-file", dir_.File("pw")});
  EXPECT_NE(b.err.find("--node-name 'a/b' holds a '/'"), std::string::npos) << b.err;
  b = RunTool({"init", "--out", dir_.File("bad"), "--postgresql", url, "--node-name", "n1", "--password-file", dir_.File("none")});
  EXPECT_NE(b.err.find("cannot be read"), std::string::npos) << b.err;
  b = RunTool({"init", "--out", dir_.File("bad"), "--role", "work"});
  EXPECT_NE(b.err.find("--role work is a node of a cluster: it goes with --postgresql"), std::string::npos) << b.err;
  b = RunTool({"init", "--out", dir_.File("bad"), "--postgresql", url, "--node-name", "n1", "--password-file", dir_.File("pw"),
               "--role", "gpu"});
  EXPECT_NE(b.err.find("--role must be all, ingest or work, got 'gpu'"), std::string::npos) << b.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("bad") + "/orthanc.json"));

  // A work node: no DICOM listener, Role "work"; an ingest node keeps its listener.
  for (const std::string role : {"work", "ingest"}) {
    const std::string dir = dir_.File("cluster-" + role);
    const auto w = RunTool({"init", "--out", dir, "--plugin", dir_.File("plugin.so"), "--postgresql", url, "--node-name", role,
                            "--password-file", dir_.File("pw"), "--role", role});
    ASSERT_EQ(w.status, 0) << w.err << w.out;
    const config::Json wdoc = Load(dir);
    const config::Json* listener = config::Find(wdoc, "DicomServerEnabled");
    if (role == "work") {
      ASSERT_NE(listener, nullptr);
      EXPECT_FALSE(listener->asBool());
    } else {
      EXPECT_EQ(listener, nullptr);
    }
    EXPECT_EQ(config::LoadCuriaSettings(dir + "/orthanc.json").role,
              role == "work" ? config::NodeRole::kWork : config::NodeRole::kIngest);
  }
}

TEST_F(CliInit, RefusesToOverwriteAndRejectsBadArguments) {
  const std::string node = dir_.File("node");
  const std::vector<std::string> base = {"init", "--out", node, "--plugin", dir_.File("p.so")};
  ASSERT_EQ(RunTool(base).status, 0);
  const std::string first = test::ReadFile(node + "/orthanc.json");
  auto r = RunTool(base);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(node + "/orthanc.json exists; pass --force to replace it"), std::string::npos) << r.err;
  std::vector<std::string> forced = base;
  forced.push_back("--force");
  forced.push_back("--http-port");
  forced.push_back("8043");
  r = RunTool(forced);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(test::ReadFile(node + "/orthanc.json"), first);

  const std::string fresh = dir_.File("fresh");
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--pacs", "PACS127.0.0.1:4343"}, "--pacs must be AET@HOST:PORT"},
      {{"--pacs", "PACS@127.0.0.1"}, "no ':PORT' after the host"},
      {{"--pacs", "PACS@127.0.0.1:70000"}, "the PACS port must be a port number from 1 to 65535"},
      {{"--pacs", "PACS@:104"}, "the host is empty"},
      {{"--pacs", "@host:104"}, "the AE title is empty"},
      {{"--pacs", "WAY_TOO_LONG_AE_TITLE@host:104"}, "the PACS AE title must be 1 to 16 characters"},
      {{"--aet", "BAD\\AET"}, "--aet 'BAD\\AET': only printable ASCII"},
      {{"--aet", "SEVENTEEN_CHARS_X"}, "--aet must be 1 to 16 characters"},
      {{"--dicom-port", "0"}, "--dicom-port must be a port number from 1 to 65535"},
      {{"--http-port", "80a"}, "--http-port must be a port number"},
      {{"--dicom-port", "9000", "--http-port", "9000"}, "--dicom-port and --http-port are both 9000"},
  };
  for (const auto& [extra, message] : bad) {
    std::vector<std::string> args = {"init", "--out", fresh};
    args.insert(args.end(), extra.begin(), extra.end());
    r = RunTool(args);
    EXPECT_EQ(r.status, 2) << extra[1];
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(fresh));  // nothing written for a usage error
  // IPv6 in brackets is accepted.
  r = RunTool({"init", "--out", fresh, "--pacs", "PACS@[::1]:104", "--plugin", "p.so"});
  EXPECT_EQ(r.status, 0) << r.err;
  const config::Json fresh_doc = Load(fresh);
  EXPECT_EQ(fresh_doc["DicomModalities"]["pacs"]["Host"].asString(), "::1");
}
#endif  // CURIA_WITH_POOL

// The CPU half of the GPU check (bench/gpu_check.sh --cpu-only): the float64 reference, every
// precision's error against it, and the throughput table.
TEST(Cli, BenchGpuChecksPrecisionsAgainstTheFloat64Reference) {
  TempDir dir;
  const auto r = RunTool({"bench", "gpu", "--device", "cpu", "--size", "tiny", "--batches", "1,2", "--precisions",
                          "fp32,bf16", "--iterations", "1", "--check-batch", "1", "--json", dir.File("gpu.json")});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("reference   float64 on cpu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("accuracy: every precision that ran is within its limit"), std::string::npos) << r.out;
  const config::Json j = config::ParseJsonFile(dir.File("gpu.json"));
  const config::Json& accuracy = *config::Find(j, "accuracy");
  ASSERT_TRUE(accuracy.isArray());
  ASSERT_EQ(accuracy.size(), 2u);
  EXPECT_EQ(config::Find(accuracy[0], "precision")->asString(), "fp32");
  EXPECT_LT(config::Find(accuracy[0], "last_hidden_rel")->asDouble(), 1e-5);
  EXPECT_LT(config::Find(accuracy[0], "pooler_rel")->asDouble(), 1e-5);
  EXPECT_GT(config::Find(accuracy[0], "last_hidden_rel")->asDouble(), 0.0);  // really computed in float32
  EXPECT_EQ(config::Find(accuracy[1], "precision")->asString(), "bf16");
  EXPECT_LT(config::Find(accuracy[1], "last_hidden_rel")->asDouble(), 2e-2);
  EXPECT_LT(config::Find(accuracy[1], "pooler_rel")->asDouble(), 2e-2);
  EXPECT_GT(config::Find(accuracy[1], "last_hidden_rel")->asDouble(), 1e-4);  // really computed in bf16
  const config::Json& rows = *config::Find(j, "throughput");
  ASSERT_TRUE(rows.isArray());
  ASSERT_EQ(rows.size(), 4u);  // fp32 x {1, 2}, bf16 x {1, 2}
  for (const config::Json& row : rows) {
    EXPECT_EQ(config::Find(row, "error"), nullptr) << config::Dump(row);
    EXPECT_GT(config::Find(row, "ratio")->asDouble(), 0.0);
  }
  EXPECT_EQ(config::Find(rows[3], "batch")->asInt64(), 2);
  EXPECT_EQ((*config::Find(rows[3], "gemm_shape"))[0].asInt64(), 2050);  // 2 x 1025 tokens
  for (const char* line : {"  fp32            1 ", "  fp32            2 ", "  bf16            1 ", "  bf16            2 "}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
}

TEST(Cli, BenchGpuRefusesBadListsAndReportsAPrecisionItCannotRunInItsRow) {
  auto r = RunTool({"bench", "gpu", "--device", "cpu", "--size", "tiny", "--precisions", "fp32,nope"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--precisions: unknown precision 'nope'"), std::string::npos) << r.err;
  r = RunTool({"bench", "gpu", "--device", "cpu", "--size", "tiny", "--batches", "1,,2"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--batches: empty item"), std::string::npos) << r.err;
  r = RunTool({"bench", "gpu", "--device", "cuda:7", "--size", "tiny"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("device cuda:7"), std::string::npos) << r.err;

  // fp16 on the CPU: LibTorch 1.13 lacks its kernels (a row saying why), later versions run it.
  TempDir dir;
  r = RunTool({"bench", "gpu", "--device", "cpu", "--size", "tiny", "--batches", "1", "--precisions", "fp16",
               "--iterations", "1", "--check-batch", "1", "--json", dir.File("gpu.json")});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  const config::Json j = config::ParseJsonFile(dir.File("gpu.json"));
  ASSERT_TRUE(config::Find(j, "accuracy")->isArray() && config::Find(j, "throughput")->isArray());
  const config::Json& accuracy = (*config::Find(j, "accuracy"))[0];
  const config::Json& row = (*config::Find(j, "throughput"))[0];
  if (config::Find(accuracy, "error")) {
    EXPECT_NE(r.out.find("not run: precision fp16 is not supported on cpu"), std::string::npos) << r.out;
    EXPECT_EQ(config::Find(row, "error")->asString(), config::Find(accuracy, "error")->asString());
  } else {
    EXPECT_LT(config::Find(accuracy, "pooler_rel")->asDouble(), 5e-3);
    EXPECT_GT(config::Find(row, "ratio")->asDouble(), 0.0);
  }
}

// Every command `curia --help` lists answers --help with its usage and exit status 0.
TEST(Cli, HelpWorksForEveryListedCommand) {
  const auto r = RunTool({"--help"});
  ASSERT_EQ(r.status, 0);
  std::istringstream lines(r.out.substr(r.out.find("commands:")));
  std::string line;
  std::getline(lines, line);
  int commands = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("  ", 0) != 0) continue;
    const std::string name = line.substr(2, line.find(' ', 2) - 2);
    const auto h = RunTool({name, "--help"});
    EXPECT_EQ(h.status, 0) << name << ": " << h.err;
    const std::string expected = name == "version" ? "curia " : "usage: curia " + name;
    EXPECT_EQ(h.out.rfind(expected, 0), 0u) << name << ": " << h.out;
    ++commands;
  }
  EXPECT_GE(commands, 8);
}

// `curia train-head` on a feature store of the golden backbone's width (64), then the head it writes
// run unchanged by `curia head` on that backbone: its probabilities are softmax(W pooler_output + b)
// of the weights written; `curia evaluate` on the store's test split.
// A feature store as `curia features` writes it: `features` (one row of `d` per case) and index.json
// listing `cases` (id, label or target, split, group). Returns the index, for a test to change and
// write again.
config::Json WriteFeatureStore(const std::string& store, const std::vector<float>& features, int d,
                               const config::Json& cases, const std::string& digest = std::string(64, 'b'),
                               const std::string& model_name = "synthetic") {
  std::filesystem::create_directories(store);
  model::SafetensorsWriter w;
  w.AddFloat32("features", {static_cast<int64_t>(cases.size()), d}, features);
  w.Write(store + "/features.safetensors");
  config::Json index(::Json::objectValue);
  index["format"] = "curia-feature-store";
  index["version"] = 1;
  index["backbone_digest"] = digest;
  index["model_name"] = model_name;
  index["cases"] = cases;
  test::WriteFile(store + "/index.json", config::Dump(index));
  return index;
}

TEST(CliTrain, TrainsAHeadThatCuriaHeadLoadsAndEvaluatesIt) {
  TempDir dir;
  const std::string store = dir.File("store");
  const int d = 64, n = 120;
  std::mt19937_64 rng(5);
  auto uniform = [&] { return static_cast<double>(rng() >> 11) / 9007199254740992.0; };
  std::vector<float> features;
  config::Json cases(::Json::arrayValue);
  for (int i = 0; i < n; ++i) {
    const bool lesion = i % 3 == 0;
    for (int j = 0; j < d; ++j) features.push_back(static_cast<float>(uniform() - 0.5 + (lesion && j < 4 ? 0.6 : 0.0)));
    config::Json c(::Json::objectValue);
    c["id"] = "case-" + std::to_string(i);
    c["label"] = lesion ? "lesion" : "normal";
    c["split"] = i < 60 ? "train" : (i < 80 ? "validation" : "test");
    c["group"] = "patient-" + std::to_string(i / 2);
    cases.append(c);
  }
  // The golden backbone's digest: the head is run on it below (a head trained on another backbone's
  // features is refused, see the end).
  const std::string model = test::GoldenPath("backbone_swiglu");
  const std::string digest = model::BackboneDigest(*model::SafetensorsFile::Open(model + "/model.safetensors"),
                                                   model::LoadDinov2Config(model + "/config.json"));
  config::Json index = WriteFeatureStore(store, features, d, cases, digest, "golden/backbone_swiglu");

  const std::string head = dir.File("head");
  auto r = RunTool({"train-head", "--features", store, "--out", head, "--folds", "3", "--balanced"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("logistic regression on 60 cases, 64 features, 2 classes; C = "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 folds, grouped"), std::string::npos) << r.out;
  const config::Json prov = config::ParseJsonFile(head + "/provenance.json");
  EXPECT_EQ(prov["backbone_digest"].asString(), digest);
  EXPECT_EQ(prov["feature_store_digest"].asString().size(), 64u);
  EXPECT_EQ(prov["cv_mean_accuracy"].size(), 7u);
  const config::Json cfg = config::ParseJsonFile(head + "/config.json");
  EXPECT_EQ(cfg["model_type"].asString(), "dinov2_custom_classifier");
  EXPECT_EQ(cfg["id2label"]["1"].asString(), "normal");  // classes in sorted order: lesion, normal

  // The head through `curia head` with the golden backbone, against our own arithmetic on
  // `curia forward`'s pooler output of the same slices.
  const std::string io = test::GoldenPath("head2d/io_cls.safetensors");
  r = RunTool({"head", "--model", model, "--head", head, "--input", io, "--output", dir.File("head_out.safetensors")});
  ASSERT_EQ(r.status, 0) << r.err;
  r = RunTool({"forward", "--model", model, "--input", io, "--output", dir.File("fwd.safetensors")});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<float> pooled = Read(dir.File("fwd.safetensors"), "pooler_output");
  const std::vector<float> weight = Read(head + "/model.safetensors", "classifier.weight");
  const std::vector<float> bias = Read(head + "/model.safetensors", "classifier.bias");
  const std::vector<float> probabilities = Read(dir.File("head_out.safetensors"), "probabilities");
  ASSERT_EQ(weight.size(), 2u * d);
  ASSERT_EQ(probabilities.size(), pooled.size() / d * 2);
  std::vector<float> expected;
  for (size_t s = 0; s < pooled.size() / d; ++s) {
    double z[2];
    for (int c = 0; c < 2; ++c) {
      z[c] = bias[c];
      for (int j = 0; j < d; ++j) z[c] += static_cast<double>(weight[c * d + j]) * pooled[s * d + j];
    }
    const double p1 = 1.0 / (1.0 + std::exp(z[0] - z[1]));
    expected.push_back(static_cast<float>(1.0 - p1));
    expected.push_back(static_cast<float>(p1));
  }
  EXPECT_TRUE(test::AllClose(probabilities, expected, 1e-5));

  r = RunTool({"evaluate", "--head", head, "--features", store, "--out", dir.File("report")});
  ASSERT_EQ(r.status, 0) << r.err;
  const config::Json m = config::ParseJsonFile(dir.File("report/metrics.json"));
  EXPECT_EQ(m["cases"].asInt(), 40);
  EXPECT_EQ(m["cases_per_class"]["lesion"].asInt() + m["cases_per_class"]["normal"].asInt(), 40);
  EXPECT_GE(m["auroc"].asDouble(), 0.9) << config::Dump(m);  // the first 4 features carry the label
  EXPECT_LE(m["auroc_ci95_delong"][0].asDouble(), m["auroc"].asDouble());
  EXPECT_GE(m["auroc_ci95_delong"][1].asDouble(), m["auroc"].asDouble());
  EXPECT_EQ(m["at_threshold"]["source"].asString(), "Youden on split 'validation'");
  EXPECT_EQ(m["at_threshold"]["positive_class"].asString(), "normal");
  int total = 0;
  for (const auto& row : m["confusion_matrix"]) {
    for (const auto& v : row) total += v.asInt();
  }
  EXPECT_EQ(total, 40);
  EXPECT_EQ(m["calibration"].size(), 10u);

  // Deployed on another backbone than its features': refused by `curia head` (and by the model
  // loader behind `curia validate-config` and the node) with both digests.
  config::Json other = prov;
  other["backbone_digest"] = std::string(64, 'a');
  test::WriteFile(head + "/provenance.json", config::Dump(other));
  r = RunTool({"head", "--model", model, "--head", head, "--input", io, "--output", dir.File("head_out2.safetensors")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("provenance.json says it was trained on features of backbone digest aaaaaaaaaaaaaaaa, but the "
                       "loaded backbone"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("has digest " + digest.substr(0, 16)), std::string::npos) << r.err;

  // Bad input: one class only in the training split.
  for (auto& c : index["cases"]) c["label"] = "normal";
  test::WriteFile(store + "/index.json", config::Dump(index));
  r = RunTool({"train-head", "--features", store, "--out", dir.File("h2")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("every training case has the label 'normal'"), std::string::npos) << r.err;
}

// A synthetic classification store: `train[c]` and `test[c]` cases of class `classes[c]`, `d`
// features, N(0, 1) noise around a class mean that differs in the first 4 features by `shift`.
// Returns the store's folder.
std::string WriteSyntheticStore(const TempDir& dir, const std::string& name, const std::vector<std::string>& classes,
                                const std::vector<int>& train, const std::vector<int>& test, double shift,
                                std::uint64_t seed, const std::string& test_split = "test") {
  const std::string store = dir.File(name);
  const int d = 16;
  std::mt19937_64 rng(seed);
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) / 9007199254740992.0; };
  auto normal = [&] { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * M_PI * uniform()); };
  std::vector<float> features;
  config::Json cases(::Json::arrayValue);
  int n = 0;
  for (int part = 0; part < 2; ++part) {
    for (std::size_t c = 0; c < classes.size(); ++c) {
      for (int i = 0; i < (part == 0 ? train[c] : test[c]); ++i) {
        for (int j = 0; j < d; ++j) {
          const double mean = j < 4 ? shift * (j % 2 == static_cast<int>(c % 2) ? 1.0 : -1.0) * (c == 2 && j < 2 ? -1.0 : 1.0) : 0.0;
          features.push_back(static_cast<float>(mean + normal()));
        }
        config::Json k(::Json::objectValue);
        k["id"] = "case-" + std::to_string(n++);
        k["label"] = classes[c];
        k["split"] = part == 0 ? "train" : test_split;
        cases.append(k);
      }
    }
  }
  WriteFeatureStore(store, features, d, cases);
  return store;
}

std::string Fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// How many pixels of the PNG have exactly this colour.
int CountColour(const test::DecodedPng& png, std::uint32_t rgb) {
  int n = 0;
  for (std::uint32_t y = 0; y < png.height; ++y) {
    for (std::uint32_t x = 0; x < png.width; ++x) n += png.At(x, y) == rgb;
  }
  return n;
}

// `curia evaluate --out DIR`: metrics.json, report.html showing its numbers and warnings, the ROC
// and calibration PNGs (decoded with libpng); three classes: one ROC curve per class, no calibration.
TEST(CliTrain, EvaluateWritesAReportFolder) {
  TempDir dir;
  // 8 test cases of "lesion & mass": fewer than 10, a warning; its name needs escaping in HTML.
  const std::string store = WriteSyntheticStore(dir, "store", {"0-normal", "1-lesion & mass"}, {40, 40}, {30, 8}, 0.8, 3);
  auto r = RunTool({"train-head", "--features", store, "--out", dir.File("head"), "--folds", "2", "--grid", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = RunTool({"evaluate", "--head", dir.File("head"), "--features", store, "--out", dir.File("report"), "--threshold", "0.4",
               "--resamples", "200"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("metrics.json, report.html, roc.png, calibration.png"), std::string::npos) << r.out;
  const config::Json m = config::ParseJsonFile(dir.File("report/metrics.json"));
  const std::string html = test::ReadFile(dir.File("report/report.html"));
  ASSERT_TRUE(m.isMember("auroc"));
  for (const std::string& expected : std::vector<std::string>{
           "AUROC</th><td>" + Fixed3(m["auroc"].asDouble()),
           Fixed3(m["auroc_ci95_delong"][0].asDouble()) + "&ndash;" + Fixed3(m["auroc_ci95_delong"][1].asDouble()),
           "Balanced accuracy</th><td>" + Fixed3(m["balanced_accuracy"].asDouble()),
           "Sensitivity</th><td>" + Fixed3(m["at_threshold"]["sensitivity"].asDouble()),
           Fixed3(m["at_threshold"]["specificity_ci95_wilson"][0].asDouble()),
           "Where this threshold came from: <b>given</b>",
           "of 8 cases of '1-lesion &amp; mass' called '1-lesion &amp; mass'",
           "Brier score</th><td>" + Fixed3(m["brier"].asDouble()),
           "<h2>Warnings (1)</h2>",
           "class &#39;1-lesion &amp; mass&#39; has 8 case(s), fewer than 10",
           "<img src=\"roc.png\"", "<img src=\"calibration.png\"",
           "<tr><th>0-normal</th><td class=\"num\">" + std::to_string(m["confusion_matrix"][0][0].asInt()) + "</td>",
           "200 stratified resamples",
       }) {
    EXPECT_NE(html.find(expected), std::string::npos) << "missing: " << expected;
  }
  EXPECT_EQ(html.find("lesion & mass"), std::string::npos) << "unescaped label";
  for (const char* name : {"roc.png", "calibration.png"}) {
    const test::DecodedPng png = test::DecodePngBytes(test::ReadFile(dir.File(std::string("report/") + name)));
    ASSERT_TRUE(png.ok) << name << ": " << png.error;
    EXPECT_EQ(png.width, 800u) << name;
    EXPECT_EQ(png.height, 720u) << name;
    EXPECT_GT(CountColour(png, 0x0072b2), 100) << name << ": the curve (first palette colour)";
    EXPECT_GT(CountColour(png, 0x969696), 100) << name << ": the grey diagonal";
  }

  // Three classes: one-vs-rest curves, no calibration figure; an --out that is a file is refused.
  const std::string three = WriteSyntheticStore(dir, "three", {"a", "b", "c"}, {30, 30, 30}, {12, 12, 12}, 1.0, 4);
  r = RunTool({"train-head", "--features", three, "--out", dir.File("head3"), "--folds", "2", "--grid", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = RunTool({"evaluate", "--head", dir.File("head3"), "--features", three, "--out", dir.File("report3"), "--resamples", "100"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("report3/calibration.png")));
  const test::DecodedPng roc3 = test::DecodePngBytes(test::ReadFile(dir.File("report3/roc.png")));
  ASSERT_TRUE(roc3.ok) << roc3.error;
  for (std::uint32_t colour : {0x0072b2u, 0xd55e00u, 0x009e73u}) EXPECT_GT(CountColour(roc3, colour), 100) << std::hex << colour;
  const std::string html3 = test::ReadFile(dir.File("report3/report.html"));
  const config::Json m3 = config::ParseJsonFile(dir.File("report3/metrics.json"));
  EXPECT_NE(html3.find("AUROC (one-vs-rest, macro)</th><td>" + Fixed3(m3["auroc"].asDouble())), std::string::npos);
  EXPECT_EQ(html3.find("Warnings"), std::string::npos);
  // The form of earlier versions: --out FILE.json writes that file, the report beside it.
  r = RunTool({"evaluate", "--head", dir.File("head3"), "--features", three, "--out", dir.File("old/m.json"), "--resamples", "10"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(config::ParseJsonFile(dir.File("old/m.json"))["auroc"], m3["auroc"]);
  EXPECT_NE(test::ReadFile(dir.File("old/report.html")).find("those of m.json in this folder"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.File("old/roc.png")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("old/metrics.json")));
  test::WriteFile(dir.File("afile"), "x");
  r = RunTool({"evaluate", "--head", dir.File("head3"), "--features", three, "--out", dir.File("afile"), "--resamples", "10"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot create the report folder"), std::string::npos) << r.err;

  // A regression head (ridge on numeric targets): MAE, RMSE and R² on the page, predicted against
  // true as the figure.
  config::Json index = config::ParseJsonFile(three + "/index.json");
  int i = 0;
  for (auto& k : index["cases"]) {
    k.removeMember("label");
    k["target"] = 40.0 + (i++ % 7);
  }
  test::WriteFile(three + "/index.json", config::Dump(index));
  r = RunTool({"train-head", "--features", three, "--out", dir.File("ridge")});
  ASSERT_EQ(r.status, 0) << r.err;
  r = RunTool({"evaluate", "--head", dir.File("ridge"), "--features", three, "--out", dir.File("report_ridge")});
  ASSERT_EQ(r.status, 0) << r.err;
  const config::Json mr = config::ParseJsonFile(dir.File("report_ridge/metrics.json"));
  const std::string html_ridge = test::ReadFile(dir.File("report_ridge/report.html"));
  EXPECT_NE(html_ridge.find("Mean absolute error (MAE)</th><td>" + Fixed3(mr["mae"].asDouble())), std::string::npos);
  EXPECT_NE(html_ridge.find("R&sup2;</th><td>" + Fixed3(mr["r2"].asDouble())), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.File("report_ridge/roc.png")));
  EXPECT_NE(html_ridge.find("<img src=\"regression.png\""), std::string::npos);
  const test::DecodedPng scatter = test::DecodePngBytes(test::ReadFile(dir.File("report_ridge/regression.png")));
  ASSERT_TRUE(scatter.ok) << scatter.error;
  EXPECT_GT(CountColour(scatter, 0x0072b2), 49 * 8);  // 36 markers of 7 x 7 pixels, overlapping where close
  EXPECT_GT(CountColour(scatter, 0x969696), 100);
}

// `curia fewshot`: learning curves that rise with k on a separable store, the same with the same seed,
// different with another; its figure decodes; clear errors.
TEST(CliTrain, FewshotLearningCurves) {
  TempDir dir;
  const std::string store = WriteSyntheticStore(dir, "store", {"normal", "lesion"}, {32, 40}, {50, 50}, 0.6, 9);
  auto r = RunTool({"fewshot", "--features", store, "--out", dir.File("a")});
  ASSERT_EQ(r.status, 0) << r.err;
  const config::Json a = config::ParseJsonFile(dir.File("a/fewshot.json"));
  std::vector<std::string> ks;
  for (const auto& pt : a["points"]) ks.push_back(pt["k"].isString() ? pt["k"].asString() : std::to_string(pt["k"].asInt()));
  EXPECT_EQ(ks, (std::vector<std::string>{"1", "2", "4", "8", "16", "32", "all"}));
  EXPECT_EQ(a["train_cases_per_class"]["lesion"].asInt(), 40);
  EXPECT_EQ(a["test_cases_per_class"]["normal"].asInt(), 50);
  for (const auto& pt : a["points"]) {
    const config::Json& auroc = pt["auroc"];
    const int n = pt["k"].isString() ? 1 : 5;
    ASSERT_EQ(auroc["values"].size(), static_cast<unsigned>(n));
    double sum = 0, lo = 2, hi = -1;
    for (const auto& v : auroc["values"]) {
      sum += v.asDouble();
      lo = std::min(lo, v.asDouble());
      hi = std::max(hi, v.asDouble());
    }
    double ss = 0;
    for (const auto& v : auroc["values"]) ss += (v.asDouble() - sum / n) * (v.asDouble() - sum / n);
    EXPECT_NEAR(auroc["mean"].asDouble(), sum / n, 1e-12);
    EXPECT_NEAR(auroc["sd"].asDouble(), n > 1 ? std::sqrt(ss / (n - 1)) : 0.0, 1e-12);
    EXPECT_EQ(auroc["min"].asDouble(), lo);
    EXPECT_EQ(auroc["max"].asDouble(), hi);
    EXPECT_EQ(pt["balanced_accuracy"]["values"].size(), static_cast<unsigned>(n));
    EXPECT_EQ(pt["accuracy"]["values"].size(), static_cast<unsigned>(n));
  }
  const double first = a["points"][0]["auroc"]["mean"].asDouble(), last32 = a["points"][5]["auroc"]["mean"].asDouble();
  const double all = a["points"][6]["auroc"]["mean"].asDouble();
  std::cout << "mean AUROC k=1 " << first << ", k=32 " << last32 << ", all " << all << "\n";
  EXPECT_LT(first + 0.05, last32);
  EXPECT_GT(all, 0.85);
  EXPECT_GT(a["points"][5]["balanced_accuracy"]["mean"].asDouble(), a["points"][0]["balanced_accuracy"]["mean"].asDouble());
  const test::DecodedPng png = test::DecodePngBytes(test::ReadFile(dir.File("a/fewshot.png")));
  ASSERT_TRUE(png.ok) << png.error;
  EXPECT_EQ(png.width, 800u);
  EXPECT_GT(CountColour(png, 0x0072b2), 100);  // AUROC
  EXPECT_GT(CountColour(png, 0xd55e00), 100);  // balanced accuracy

  // Same seed: the same numbers; another seed: other draws.
  r = RunTool({"fewshot", "--features", store, "--out", dir.File("b"), "--k", "1,4", "--repeats", "3"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = RunTool({"fewshot", "--features", store, "--out", dir.File("c"), "--k", "4,1", "--repeats", "3"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = RunTool({"fewshot", "--features", store, "--out", dir.File("d"), "--k", "1,4", "--repeats", "3", "--seed", "7"});
  ASSERT_EQ(r.status, 0) << r.err;
  const config::Json b = config::ParseJsonFile(dir.File("b/fewshot.json"));
  const config::Json c = config::ParseJsonFile(dir.File("c/fewshot.json"));
  const config::Json d = config::ParseJsonFile(dir.File("d/fewshot.json"));
  EXPECT_EQ(b["points"], c["points"]);  // and the order of --k does not matter
  EXPECT_NE(b["points"][0]["auroc"]["values"], d["points"][0]["auroc"]["values"]);
  // A k's draws do not depend on the other ks: k = 1 here as in the default run (the first 3 repeats).
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b["points"][0]["auroc"]["values"][i], a["points"][0]["auroc"]["values"][i]);

  // Errors.
  auto fails = [&](const std::vector<std::string>& extra, int status, const std::string& message) {
    std::vector<std::string> args = {"fewshot", "--out", dir.File("e")};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto e = RunTool(args);
    EXPECT_EQ(e.status, status) << message;
    EXPECT_NE(e.err.find(message), std::string::npos) << e.err;
  };
  fails({"--features", store, "--k", "0,2"}, 2, "--k: '0' is not a positive whole number (or \"all\")");
  fails({"--features", store, "--k", "64"}, 2, "--k 64: class 'normal' has only 32 case(s) in training split 'train'");
  fails({"--features", store, "--C", "0"}, 2, "--C: '0' is not a positive number");
  fails({"--features", store, "--test-split", "validation"}, 1, "no cases in test split 'validation'");
  const std::string missing = WriteSyntheticStore(dir, "missing", {"a", "b", "c"}, {10, 10, 0}, {5, 5, 5}, 1.0, 1);
  fails({"--features", missing}, 1, "class 'c' has no case in training split 'train'");
  const std::string untested = WriteSyntheticStore(dir, "untested", {"a", "b"}, {10, 10}, {5, 0}, 1.0, 1);
  fails({"--features", untested}, 1, "class 'b' has no case in test split 'test': its AUROC cannot be measured");
  // A regression store.
  config::Json index = config::ParseJsonFile(untested + "/index.json");
  for (auto& k : index["cases"]) {
    k.removeMember("label");
    k["target"] = 1.5;
  }
  test::WriteFile(untested + "/index.json", config::Dump(index));
  fails({"--features", untested}, 1, "fewshot takes classification stores only");
}

#ifdef CURIA_WITH_POOL
// `curia validate-config`: a configuration from `curia init` is valid; a broken one gets every
// problem on its own line, with its JSON path and a hint.
class CliValidate : public ::testing::Test {
 protected:
  std::string Init() {
    const std::string node = dir_.File("node");
    const auto r = RunTool({"init", "--out", node, "--pacs", "PACS@127.0.0.1:4343", "--plugin", dir_.File("plugin.so")});
    EXPECT_EQ(r.status, 0) << r.err;
    test::WriteFile(dir_.File("plugin.so"), "not a plugin, but it exists");
    return node + "/orthanc.json";
  }
  // The init file with `from` replaced by `to` (each must occur).
  std::string Edit(const std::string& file, const std::vector<std::pair<std::string, std::string>>& edits,
                   const std::string& name) {
    std::string text = test::ReadFile(file);
    for (const auto& [from, to] : edits) {
      const size_t at = text.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) text.replace(at, from.size(), to);
    }
    test::WriteFile(dir_.File(name), text);
    return dir_.File(name);
  }
  TempDir dir_;
};

// `curia train-head` on a store with numeric targets: ridge with alpha chosen by grouped k-fold
// cross-validation (the arithmetic is held against scikit-learn in train_test), provenance with the
// grid and the mean R² of each alpha; --alpha alone fits that alpha; clear refusals.
TEST(CliTrain, RidgeHeadChoosesAlphaByCrossValidation) {
  TempDir dir;
  const std::string store = dir.File("store");
  const int d = 8, n = 60;
  std::mt19937_64 rng(9);
  auto uniform = [&] { return static_cast<double>(rng() >> 11) / 9007199254740992.0; };
  std::vector<float> features;
  config::Json cases(::Json::arrayValue);
  for (int i = 0; i < n; ++i) {
    double target = 50.0;
    for (int j = 0; j < d; ++j) {
      const float v = static_cast<float>(uniform() - 0.5);
      features.push_back(v);
      target += (j == 0 ? 30.0 : j == 1 ? -20.0 : 0.0) * v;
    }
    config::Json c(::Json::objectValue);
    c["id"] = "case-" + std::to_string(i);
    c["target"] = target + 4.0 * (uniform() - 0.5);
    c["split"] = i < 50 ? "train" : "test";
    c["group"] = "patient-" + std::to_string(i / 2);
    cases.append(c);
  }
  config::Json index = WriteFeatureStore(store, features, d, cases);
  auto write_index = [&] { test::WriteFile(store + "/index.json", config::Dump(index)); };

  const std::string head = dir.File("head");
  auto r = RunTool({"train-head", "--features", store, "--out", head, "--folds", "4"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ridge on 50 cases, 8 features; alpha = "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 folds, grouped"), std::string::npos) << r.out;
  config::Json prov = config::ParseJsonFile(head + "/provenance.json");
  EXPECT_EQ(prov["method"].asString(), "ridge");
  EXPECT_EQ(prov["cross_validation"].asString(), "GroupKFold");
  EXPECT_EQ(prov["folds"].asInt(), 4);
  ASSERT_EQ(prov["alpha_grid"].size(), 6u);  // the default grid 0.01 .. 1000
  ASSERT_EQ(prov["cv_mean_r2"].size(), 6u);
  // The chosen alpha is the first grid value with the best mean R²; features carry the target, so
  // little regularisation wins and the best R² is high.
  Json::ArrayIndex best = 0;
  for (Json::ArrayIndex g = 1; g < 6; ++g) {
    if (prov["cv_mean_r2"][g].asDouble() > prov["cv_mean_r2"][best].asDouble()) best = g;
  }
  EXPECT_EQ(prov["alpha"].asDouble(), prov["alpha_grid"][best].asDouble());
  EXPECT_GE(prov["cv_mean_r2"][best].asDouble(), 0.8) << config::Dump(prov);
  EXPECT_LT(prov["cv_mean_r2"][5].asDouble(), prov["cv_mean_r2"][best].asDouble());  // alpha 1000 shrinks too much
  const config::Json cfg = config::ParseJsonFile(head + "/config.json");
  EXPECT_TRUE(cfg["regression"].asBool());

  r = RunTool({"evaluate", "--head", head, "--features", store, "--out", dir.File("metrics.json")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GE(config::ParseJsonFile(dir.File("metrics.json"))["r2"].asDouble(), 0.8);

  // --alpha alone: that alpha, no cross-validation; with --alpha-grid: refused.
  r = RunTool({"train-head", "--features", store, "--out", dir.File("h2"), "--alpha", "5"});
  ASSERT_EQ(r.status, 0) << r.err;
  prov = config::ParseJsonFile(dir.File("h2") + "/provenance.json");
  EXPECT_EQ(prov["alpha"].asDouble(), 5.0);
  EXPECT_FALSE(prov.isMember("alpha_grid"));
  r = RunTool({"train-head", "--features", store, "--out", dir.File("h3"), "--alpha", "5", "--alpha-grid", "1,2"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--alpha and --alpha-grid: give one of them"), std::string::npos) << r.err;
  r = RunTool({"train-head", "--features", store, "--out", dir.File("h3"), "--alpha-grid", "1,x"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--alpha-grid: 'x' is not a positive number"), std::string::npos) << r.err;

  // Fewer groups than folds (25 patients in the training split), fewer cases than folds, a constant target.
  r = RunTool({"train-head", "--features", store, "--out", dir.File("h3"), "--folds", "30"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("25 group(s), fewer than the 30 folds"), std::string::npos) << r.err;
  for (auto& c : index["cases"]) c.removeMember("group");
  write_index();
  r = RunTool({"train-head", "--features", store, "--out", dir.File("h3"), "--folds", "60"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("50 case(s), fewer than the 60 folds"), std::string::npos) << r.err;
  for (auto& c : index["cases"]) c["target"] = 41.5;
  write_index();
  r = RunTool({"train-head", "--features", store, "--out", dir.File("h3")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("every target is 41.5; R² is undefined for a constant target"), std::string::npos) << r.err;
}

// `curia bench train` at a small size: both sides ran on the same data in rounds of alternating
// order, the figures are in the JSON, train_ratio is the median of the rounds' ratios.
TEST(CliTrain, BenchTrainTimesOursAgainstScikitLearn) {
  TempDir dir;
  const auto r = RunTool({"bench", "train", "--cases", "200", "--features", "64", "--rounds", "2", "--grid", "0.01,1",
                          "--json", dir.File("train.json")});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const config::Json j = config::ParseJsonFile(dir.File("train.json"));
  if (j.isMember("skipped")) GTEST_SKIP() << j["skipped"].asString();
  EXPECT_EQ(j["benchmark"].asString(), "train");
  EXPECT_EQ(j["cases"].asInt(), 200);
  EXPECT_EQ(j["features"].asInt(), 64);
  for (const char* key : {"ours_seconds", "sklearn_seconds", "train_ratio", "ours_gradient_only_seconds"}) {
    ASSERT_TRUE(j[key].isDouble()) << key << ": " << config::Dump(j);
    EXPECT_GT(j[key].asDouble(), 0.0) << key;
  }
  ASSERT_EQ(j["ratios"].size(), 2u) << config::Dump(j);
  ASSERT_EQ(j["ours_rounds_s"].size(), 2u);
  ASSERT_EQ(j["sklearn_rounds_s"].size(), 2u);
  for (Json::ArrayIndex i = 0; i < 2; ++i) {
    EXPECT_DOUBLE_EQ(j["ratios"][i].asDouble(), j["ours_rounds_s"][i].asDouble() / j["sklearn_rounds_s"][i].asDouble());
  }
  EXPECT_DOUBLE_EQ(j["train_ratio"].asDouble(), (j["ratios"][0].asDouble() + j["ratios"][1].asDouble()) / 2);
  EXPECT_NE(r.out.find("round 1 (ours first)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("round 2 (sklearn first)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(median of the rounds' ratios, spread "), std::string::npos) << r.out;
  EXPECT_EQ(j["sklearn"]["mean_accuracy"].size(), 2u);  // scikit-learn really ran the grid
  EXPECT_TRUE(j["same_c"].isBool());
  EXPECT_NE(r.out.find("[train_ratio]"), std::string::npos) << r.out;
}

TEST_F(CliValidate, AConfigurationFromInitIsValid) {
  const std::string file = Init();
  const auto r = RunTool({"validate-config", file});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(file + ": valid Curia Node configuration"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DEMO"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tasks         3: demo-finding, demo-3d-finding, demo-region"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rules         1: ct-and-mr (routine)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("destinations  1: pacs (PACS@127.0.0.1:4343)"), std::string::npos) << r.out;
}

TEST_F(CliValidate, ReportsEveryProblemWithItsPathAndAHint) {
  const std::string file = Init();
  const std::string bad = Edit(file,
                               {{"\"Path\":", "\"Pathh\": 1, \"Path\":"},
                                {"\"Threshold\"", "\"Treshold\""},
                                {"\"Trigger\": \"study\"", "\"Trigger\": \"Study\""},
                                {"\"Tag\": \"Modality\"", "\"Tag\": \"Modalty\""},
                                {"\"Destinations\": [\"pacs\"]", "\"Destinations\": [\"pacss\"]"},
                                {"\"demo-3d-finding\", \"demo-region\"]", "\"demo-3d-findng\", \"demo-region\"]"}},
                               "bad.json");
  const auto r = RunTool({"validate-config", bad});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  const std::string p = bad + ": ";
  for (const std::string& line : {
           p + "$.Curia.Model.Pathh: unknown key (hint: did you mean \"Path\"?)",
           p + "$.Curia.Tasks.demo-finding.Treshold: unknown key (hint: did you mean \"Threshold\"?)",
           p + "$.Curia.Trigger: expected one of \"study\", \"series\", found \"Study\" (hint: did you mean \"study\"?",
           p + "$.Curia.Rules[0].Tasks[1]: \"demo-3d-findng\" is not a task of $.Curia.Tasks",
           p + "$.Curia.Rules[0].Match.Tag: \"Modalty\" is not a DICOM keyword (hint: ",
           p + "$.Curia.Rules[0].Destinations[0]: \"pacss\" is not in Orthanc's DicomModalities (hint: did you mean \"pacs\"?)",
       }) {
    EXPECT_NE(r.out.find("\n" + line), std::string::npos) << "missing: " << line << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("(hint: did you mean \"demo-3d-finding\"?)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("6 problems: the node would not start"), std::string::npos) << r.out;
}

TEST_F(CliValidate, MissingModelDisabledSectionAndBrokenJson) {
  const std::string file = Init();
  const std::string text = test::ReadFile(file);
  // A model folder that is not there: the hint says how to get one.
  const size_t at = text.find("/demo-model\"");
  ASSERT_NE(at, std::string::npos);
  std::string moved = text;
  moved.replace(at, 12, "/no-model\"");
  test::WriteFile(dir_.File("nomodel.json"), moved);
  auto r = RunTool({"validate-config", dir_.File("nomodel.json")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("$.Curia.Model.Path: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("`curia demo-model --out " + dir_.File("node") + "/no-model` writes the demo model"),
            std::string::npos) << r.out;
  EXPECT_EQ(RunTool({"validate-config", "--skip-model", dir_.File("nomodel.json")}).status, 0);

  // The packaged example's inert section.
  std::string disabled = text;
  disabled.replace(disabled.find("\"Curia\":"), 8, "\"CuriaDisabled\":");
  test::WriteFile(dir_.File("disabled.json"), disabled);
  r = RunTool({"validate-config", dir_.File("disabled.json")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("$.Curia: no \"Curia\" section: the plugin stays idle (hint: the packaged example is disabled: "
                       "rename \"CuriaDisabled\" to \"Curia\""),
            std::string::npos) << r.out;

  // A folder as Orthanc reads it: a key in two files is refused, as Orthanc refuses it.
  std::filesystem::create_directories(dir_.File("etc"));
  test::WriteFile(dir_.File("etc/orthanc.json"), "{\"HttpPort\": 8042, \"DicomModalities\": {}}");
  test::WriteFile(dir_.File("etc/curia-node.json"), text);
  r = RunTool({"validate-config", "--skip-model", dir_.File("etc")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("$.DicomModalities: defined in both "), std::string::npos) << r.out;

  // Not JSON: the parser's message, with the line.
  test::WriteFile(dir_.File("broken.json"), "{\n  \"Curia\": {\n    \"Model\": \n}\n");
  r = RunTool({"validate-config", dir_.File("broken.json")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(dir_.File("broken.json") + ":"), std::string::npos) << r.err;
  EXPECT_EQ(RunTool({"validate-config"}).status, 2);
}
#endif

}  // namespace
}  // namespace curia
