// Marks GLIBCXX version needs that the system's libstdc++ lacks as weak (VER_FLG_WEAK) in an ELF64 shared library,
// so the dynamic loader accepts it. Used by the build (through an MSBuild inline task) on the copy of
// libLibTorchSharp.so that an application loads, and by the tests. Pure BCL, no dependencies.
//
// Why: TorchSharp 0.107.0's libLibTorchSharp.so asks for GLIBCXX_3.4.32 only for `_ZSt21ios_base_library_initv`,
// GCC 13's iostreams-initialisation marker; Debian 12 ships GCC 12's libstdc++ (up to GLIBCXX_3.4.30). A weak version
// need that is missing is not fatal, and the symbol is not needed for iostreams to work with GCC 12's runtime.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace DebertaSharp.Build
{
    /// <summary>What <see cref="ElfVersionNeedPatcher.Patch"/> did.</summary>
    public enum ElfPatchResult
    {
        /// <summary>Nothing to do: every version need is satisfied by the system library or already weak.</summary>
        NotNeeded,
        /// <summary>At least one version need was marked weak and the file rewritten.</summary>
        Patched,
    }

    /// <summary>Reads and rewrites the SHT_GNU_verneed section of an ELF64 little-endian file.</summary>
    public static class ElfVersionNeedPatcher
    {
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlgWeak = 0x2;

        /// <summary>Candidate locations of the system libstdc++.</summary>
        public static readonly string[] SystemLibStdCxxPaths =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6",
            "/lib64/libstdc++.so.6",
            "/usr/lib/libstdc++.so.6",
        };

        /// <summary>One version need: the library it is needed from, the version name, and whether it is weak.</summary>
        public sealed class VersionNeed
        {
            /// <summary>Creates a version need.</summary>
            public VersionNeed(string file, string version, bool weak) { File = file; Version = version; Weak = weak; }
            /// <summary>The library the version is needed from (for example libstdc++.so.6).</summary>
            public string File { get; }
            /// <summary>The version name (for example GLIBCXX_3.4.32).</summary>
            public string Version { get; }
            /// <summary>Whether the need carries VER_FLG_WEAK.</summary>
            public bool Weak { get; }
        }

        /// <summary>Lists the version needs of an ELF file.</summary>
        public static List<VersionNeed> ReadVersionNeeds(string path)
        {
            byte[] data = File.ReadAllBytes(path);
            var result = new List<VersionNeed>();
            Walk(data, path, (file, version, flagsOffset) =>
                result.Add(new VersionNeed(file, version, (BitConverter.ToUInt16(data, flagsOffset) & VerFlgWeak) != 0)));
            return result;
        }

        /// <summary>
        /// The GLIBCXX (and CXXABI) version strings that the first libstdc++ found on this system defines, or null if
        /// none is found.
        /// </summary>
        public static HashSet<string>? SystemGlibcxxVersions()
        {
            foreach (string p in SystemLibStdCxxPaths)
            {
                if (!File.Exists(p)) continue;
                byte[] data = File.ReadAllBytes(p);
                var set = ScanVersionStrings(data, "GLIBCXX_");
                set.UnionWith(ScanVersionStrings(data, "CXXABI_"));   // else every CXXABI need would be marked weak too
                return set;
            }
            return null;
        }

        /// <summary>
        /// Marks as weak every GLIBCXX version need of <paramref name="path"/> that <paramref name="available"/> lacks.
        /// Idempotent; writes through a temporary file and a rename, so a failure never leaves a half-written library.
        /// </summary>
        public static ElfPatchResult Patch(string path, ISet<string> available)
        {
            byte[] data = File.ReadAllBytes(path);
            bool changed = false;
            Walk(data, path, (file, version, flagsOffset) =>
            {
                if (!file.StartsWith("libstdc++", StringComparison.Ordinal)) return;
                if (!version.StartsWith("GLIBCXX_", StringComparison.Ordinal) && !version.StartsWith("CXXABI_", StringComparison.Ordinal)) return;
                if (available.Contains(version)) return;
                ushort flags = BitConverter.ToUInt16(data, flagsOffset);
                if ((flags & VerFlgWeak) != 0) return;
                flags |= VerFlgWeak;
                data[flagsOffset] = (byte)(flags & 0xff);
                data[flagsOffset + 1] = (byte)(flags >> 8);
                changed = true;
            });
            if (!changed) return ElfPatchResult.NotNeeded;
            string tmp = path + ".patch-" + Guid.NewGuid().ToString("N");
            File.WriteAllBytes(tmp, data);
            File.Replace(tmp, path, null);
            return ElfPatchResult.Patched;
        }

        /// <summary>
        /// The versions to treat as available when patching a library with <paramref name="needs"/>: the system's
        /// (<paramref name="system"/>; when null, for want of a libstdc++ to ask, every need counts as met), less
        /// <paramref name="alwaysWeak"/>, the versions to mark weak whatever the system has (for output that runs on
        /// other machines).
        /// </summary>
        public static HashSet<string> AvailableVersions(ISet<string>? system, IEnumerable<VersionNeed> needs, IEnumerable<string> alwaysWeak)
        {
            var met = new HashSet<string>(StringComparer.Ordinal);
            if (system != null) met.UnionWith(system);
            else foreach (var n in needs) met.Add(n.Version);
            met.ExceptWith(alwaysWeak);
            return met;
        }

        private static HashSet<string> ScanVersionStrings(byte[] data, string prefix)
        {
            var set = new HashSet<string>(StringComparer.Ordinal);
            byte[] p = Encoding.ASCII.GetBytes(prefix);
            for (int i = 0; i + p.Length < data.Length; i++)
            {
                if (data[i] != p[0]) continue;
                int k = 1;
                while (k < p.Length && data[i + k] == p[k]) k++;
                if (k < p.Length) continue;
                int end = i + p.Length;
                while (end < data.Length && data[end] != 0 && (char.IsLetterOrDigit((char)data[end]) || data[end] == '.' || data[end] == '_')) end++;
                if (end < data.Length && data[end] == 0) set.Add(Encoding.ASCII.GetString(data, i, end - i));
            }
            return set;
        }

        private static void Walk(byte[] d, string path, Action<string, string, int> visit)
        {
            if (d.Length < 64 || d[0] != 0x7f || d[1] != (byte)'E' || d[2] != (byte)'L' || d[3] != (byte)'F')
                throw new InvalidDataException($"{path}: not an ELF file");
            if (d[4] != 2 || d[5] != 1)
                throw new InvalidDataException($"{path}: only 64-bit little-endian ELF files are supported");
            long shoff = checked((long)BitConverter.ToUInt64(d, 0x28));
            int shentsize = BitConverter.ToUInt16(d, 0x3A);
            int shnum = BitConverter.ToUInt16(d, 0x3C);
            if (shoff <= 0 || shentsize < 64 || shoff + (long)shentsize * shnum > d.Length)
                throw new InvalidDataException($"{path}: section header table out of range");
            for (int s = 0; s < shnum; s++)
            {
                int sh = checked((int)(shoff + (long)s * shentsize));
                if (BitConverter.ToUInt32(d, sh + 4) != ShtGnuVerneed) continue;
                int off = checked((int)BitConverter.ToUInt64(d, sh + 0x18));
                int link = (int)BitConverter.ToUInt32(d, sh + 0x28);
                int count = (int)BitConverter.ToUInt32(d, sh + 0x2C);
                int strSh = checked((int)(shoff + (long)link * shentsize));
                int strOff = checked((int)BitConverter.ToUInt64(d, strSh + 0x18));
                int vn = off;
                for (int i = 0; i < count; i++)
                {
                    int cnt = BitConverter.ToUInt16(d, vn + 2);
                    string file = CString(d, strOff + (int)BitConverter.ToUInt32(d, vn + 4), path);
                    int aux = vn + (int)BitConverter.ToUInt32(d, vn + 8);
                    for (int j = 0; j < cnt; j++)
                    {
                        string name = CString(d, strOff + (int)BitConverter.ToUInt32(d, aux + 8), path);
                        visit(file, name, aux + 4);
                        uint nextAux = BitConverter.ToUInt32(d, aux + 12);
                        if (nextAux == 0) break;
                        aux += (int)nextAux;
                    }
                    uint next = BitConverter.ToUInt32(d, vn + 12);
                    if (next == 0) break;
                    vn += (int)next;
                }
            }
        }

        private static string CString(byte[] d, int at, string path)
        {
            if (at < 0 || at >= d.Length) throw new InvalidDataException($"{path}: string offset out of range");
            int end = Array.IndexOf(d, (byte)0, at);
            if (end < 0) throw new InvalidDataException($"{path}: unterminated string");
            return Encoding.ASCII.GetString(d, at, end - at);
        }
    }

#if !DEBERTASHARP_NO_MSBUILD_TASK
    /// <summary>MSBuild task: patches every libLibTorchSharp.so under <see cref="Directory"/>, where the system needs it.</summary>
    public class PatchTorchSharpNative : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public string Directory { get; set; } = "";

        /// <summary>
        /// Versions (semicolon-separated) to mark weak whatever this machine's libstdc++ has: for output that runs on
        /// other machines (the dotnet tool package, packed once, installed on Debian 12 or elsewhere). Empty: only
        /// what this machine lacks.
        /// </summary>
        public string WeakVersions { get; set; } = "";

        public override bool Execute()
        {
            if (!System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux) || !System.IO.Directory.Exists(Directory)) return true;
            var weak = new HashSet<string>(WeakVersions.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
            var available = ElfVersionNeedPatcher.SystemGlibcxxVersions();
            if (available == null && weak.Count == 0)
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "No system libstdc++ found; LibTorchSharp left as is.");
                return true;
            }
            foreach (string lib in System.IO.Directory.EnumerateFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories))
            {
                var met = ElfVersionNeedPatcher.AvailableVersions(available, ElfVersionNeedPatcher.ReadVersionNeeds(lib), weak);
                var r = ElfVersionNeedPatcher.Patch(lib, met);
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, $"TorchSharp native fix: {lib}: {r}");
            }
            return true;
        }
    }
#endif
}
