using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using TorchSharp;

namespace DebertaSharp;

/// <summary>
/// Lets the Intel oneMKL inside LibTorch choose its matrix kernels by the CPU's features on x86-64 processors that are
/// not Intel's (AMD EPYC / Ryzen).
/// </summary>
/// <remarks>
/// <para>LibTorch's fp32 matrix products (<c>torch.matmul</c>, <c>nn.Linear</c>, the attention's batched products) are
/// oneMKL's <c>sgemm</c>, statically linked into <c>libtorch_cpu.so</c>. oneMKL picks its kernels through
/// <c>mkl_serv_intel_cpu_true()</c>, which is 1 only when the CPUID vendor string is "GenuineIntel"; elsewhere it falls
/// back to generic code paths whatever the CPU can do. On an AMD EPYC (Zen 5, AVX-512) of this project's machines a
/// 1024x768x768 fp32 product ran at about 87 GFLOP/s through that path and 360-400 GFLOP/s through oneMKL's AVX-512
/// kernels, and a deberta-base forward was about twice ONNX Runtime's time (ONNX Runtime's own kernels dispatch on CPU
/// features). bf16 products go through oneDNN, which dispatches on features already.</para>
/// <para><see cref="UseFeatureBasedKernels"/> does what an <c>LD_PRELOAD</c> of a library defining
/// <c>mkl_serv_intel_cpu_true</c> as <c>return 1</c> does, the usual remedy, but from inside the process: it points
/// <c>libtorch_cpu.so</c>'s PLT slot for that function at a six-byte function returning 1. oneMKL then checks the
/// CPUID feature bits (AVX2, AVX-512, AMX...) as on an Intel processor, so a CPU without AVX-512 gets the AVX2 kernels.
/// Nothing else changes: results are those of oneMKL's kernels for the same features (fp32 products within rounding of
/// the other path; the parity tests run with it).</para>
/// <para>It acts only on Linux x86-64, when the CPU vendor is not Intel and the loaded <c>libtorch_cpu.so</c> exports
/// that function through its PLT; anywhere else it does nothing and says why in <see cref="Status"/>. Setting the
/// environment variable <c>DEBERTASHARP_MKL_VENDOR_CHECK=keep</c> leaves oneMKL's own check in place. The
/// <c>deberta</c> commands that run models (forward, pipeline, serve, train, convert) and the benchmarks call it before
/// their first tensor operation; a library user opts in.
/// oneMKL makes its choice once, at its first call in the process (a matrix product, as a rule), and keeps it: call
/// this before that (a later call changes nothing and says so in <see cref="Status"/>).</para>
/// </remarks>
public static partial class MklCpuDispatch
{
    /// <summary>The environment variable that, set to <c>keep</c>, turns <see cref="UseFeatureBasedKernels"/> off.</summary>
    public const string EnvironmentVariable = "DEBERTASHARP_MKL_VENDOR_CHECK";

    private const string VendorCheckSymbol = "mkl_serv_intel_cpu_true";
    private const string LibraryFileName = "libtorch_cpu.so";
    private static readonly object s_gate = new();
    private static bool? s_applied;
    private static string s_status = "not requested";

    /// <summary>The PLT slot that was redirected (zero until it has been); for the tests.</summary>
    internal static IntPtr PatchedSlot { get; private set; }

    /// <summary>The path of the loaded <c>libtorch_cpu.so</c>, or null when it is not mapped in this process.</summary>
    internal static string? LoadedTorchCpuPath() => LoadedLibrary(Mappings())?.Path;

    /// <summary>
    /// What the last <see cref="UseFeatureBasedKernels"/> call found: <c>applied</c>, <c>not needed (GenuineIntel)</c>,
    /// or why it did not act (for a benchmark's header or a log line).
    /// </summary>
    public static string Status { get { lock (s_gate) return s_status; } }

    /// <summary>
    /// On Linux x86-64 with a CPU that is not Intel's, makes LibTorch's oneMKL select its kernels by CPU features (see
    /// the remarks). Loads LibTorch if it is not loaded yet. Safe to call more than once and from several threads.
    /// </summary>
    /// <returns>True when oneMKL's vendor check is now bypassed in this process (by this call or an earlier one).</returns>
    public static bool UseFeatureBasedKernels()
    {
        lock (s_gate)
        {
            if (s_applied is bool done) return done;
            bool ok = false;
            try { ok = Apply(out s_status); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException
                                          or DllNotFoundException or EntryPointNotFoundException or FormatException)
            {
                s_status = "not applied: " + e.Message;
            }
            s_applied = ok;
            return ok;
        }
    }

    private static bool Apply(out string status)
    {
        if (string.Equals(Environment.GetEnvironmentVariable(EnvironmentVariable), "keep", StringComparison.OrdinalIgnoreCase))
        {
            status = $"not applied: {EnvironmentVariable}=keep";
            return false;
        }
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64 || !X86Base.IsSupported)
        {
            status = "not applied: only Linux x86-64 is handled";
            return false;
        }
        string vendor = CpuVendor();
        if (vendor == "GenuineIntel")
        {
            status = "not needed (GenuineIntel)";
            return false;
        }

        _ = torch.get_num_threads();   // loads LibTorch (TorchSharp's static initialisation) if nothing has yet
        var maps = Mappings();
        var mapping = LoadedLibrary(maps);
        if (mapping is null)
        {
            status = $"not applied: {LibraryFileName} is not loaded in this process";
            return false;
        }
        string path = mapping.Value.Path;
        if (!NativeLibrary.TryLoad(path, out IntPtr handle) || !NativeLibrary.TryGetExport(handle, VendorCheckSymbol, out IntPtr function))
        {
            status = $"not applied: {path} does not export {VendorCheckSymbol}";
            return false;
        }

        var (symbolValue, slotOffset) = FindPltSlot(path, VendorCheckSymbol);
        if (slotOffset is null)
        {
            status = $"not applied: {path} has no PLT slot for {VendorCheckSymbol}";
            return false;
        }
        long bias = (long)function - (long)symbolValue;
        IntPtr slot = (IntPtr)(bias + (long)slotOffset.Value);
        var slotMapping = MappingContaining(maps, slot);
        if (slotMapping is null || slotMapping.Value.Path != path || (long)slot % IntPtr.Size != 0)
        {
            status = $"not applied: the PLT slot of {VendorCheckSymbol} is not inside {path}'s mapped pages";
            return false;
        }

        // With lazy binding (the default) the slot still points into the library's PLT until the first call; a slot
        // holding the function itself means oneMKL has already run its check and chosen its kernels for good.
        bool bindNow = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("LD_BIND_NOW"));
        if (!bindNow && Marshal.ReadIntPtr(slot) == function)
        {
            status = "not applied: oneMKL has already run in this process and keeps the kernels it chose then (call this before the first matrix product)";
            return false;
        }

        IntPtr stub = ReturnOneStub();
        if (stub == IntPtr.Zero)
        {
            status = "not applied: this process may not map executable memory";
            return false;
        }
        if (!WriteSlot(slot, stub, slotMapping.Value.Writable))
        {
            status = $"not applied: the PLT slot of {VendorCheckSymbol} could not be made writable";
            return false;
        }
        PatchedSlot = slot;
        status = $"applied (vendor {vendor})";
        return true;
    }

    /// <summary>The 12-character CPUID vendor string (leaf 0: EBX, EDX, ECX).</summary>
    private static string CpuVendor()
    {
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<byte> bytes = stackalloc byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, ebx);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[4..], edx);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[8..], ecx);
        return System.Text.Encoding.ASCII.GetString(bytes);
    }

    private readonly record struct Mapping(long Start, long End, bool Writable, long Offset, string Path);

    /// <summary>This process's memory mappings, read once from /proc/self/maps ("start-end perms offset dev inode path").</summary>
    private static List<Mapping> Mappings()
    {
        var maps = new List<Mapping>();
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            string[] f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 5) continue;
            int dash = f[0].IndexOf('-');
            if (dash < 0) continue;
            maps.Add(new Mapping(
                long.Parse(f[0].AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                long.Parse(f[0].AsSpan(dash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                f[1].Length > 1 && f[1][1] == 'w',
                long.Parse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                f.Length == 6 ? f[5].Trim() : ""));
        }
        return maps;
    }

    private static Mapping? LoadedLibrary(List<Mapping> maps)
    {
        foreach (var m in maps)
            if (m.Offset == 0 && Path.GetFileName(m.Path) == LibraryFileName) return m;
        return null;
    }

    private static Mapping? MappingContaining(List<Mapping> maps, IntPtr address)
    {
        long a = (long)address;
        foreach (var m in maps)
            if (a >= m.Start && a + IntPtr.Size <= m.End) return m;
        return null;
    }

    /// <summary>
    /// Reads the ELF64 file's section headers, dynamic symbols and <c>.rela.plt</c>: the symbol's value (its address
    /// relative to the load base) and the offset of the R_X86_64_JUMP_SLOT entry naming it, if there is one.
    /// </summary>
    internal static (ulong SymbolValue, ulong? SlotOffset) FindPltSlot(string path, string symbol)
    {
        using var file = File.OpenHandle(path);
        long length = RandomAccess.GetLength(file);
        Span<byte> header = stackalloc byte[64];
        ReadAt(file, 0, header, path);
        if (!header[..4].SequenceEqual("\u007fELF"u8) || header[4] != 2 || header[5] != 1 || BinaryPrimitives.ReadUInt16LittleEndian(header[18..]) != 62)
            throw new InvalidDataException($"{path}: not an ELF64 little-endian x86-64 file");
        long shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(header[40..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(header[58..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(header[60..]);
        int shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(header[62..]);
        if (shentsize < 64 || shnum == 0 || shstrndx >= shnum || shoff < 0 || shoff + (long)shentsize * shnum > length)
            throw new InvalidDataException($"{path}: damaged ELF section header table");

        var sections = new byte[shentsize * shnum];
        ReadAt(file, shoff, sections, path);
        uint Type(int i) => BinaryPrimitives.ReadUInt32LittleEndian(sections.AsSpan(i * shentsize + 4));
        long Offset(int i) => (long)BinaryPrimitives.ReadUInt64LittleEndian(sections.AsSpan(i * shentsize + 24));
        long Size(int i) => (long)BinaryPrimitives.ReadUInt64LittleEndian(sections.AsSpan(i * shentsize + 32));
        int Link(int i) => (int)BinaryPrimitives.ReadUInt32LittleEndian(sections.AsSpan(i * shentsize + 40));
        uint NameOffset(int i) => BinaryPrimitives.ReadUInt32LittleEndian(sections.AsSpan(i * shentsize));
        byte[] Contents(int i)
        {
            long off = Offset(i), size = Size(i);
            if (off < 0 || size < 0 || size > int.MaxValue || off + size > length)
                throw new InvalidDataException($"{path}: section {i} lies outside the file");
            var data = new byte[size];
            ReadAt(file, off, data, path);
            return data;
        }

        byte[] sectionNames = Contents(shstrndx);
        const uint ShtRela = 4, ShtDynsym = 11;
        int relaPlt = -1;
        for (int i = 0; i < shnum; i++)
            if (Type(i) == ShtRela && NameIs(sectionNames, NameOffset(i), ".rela.plt"u8)) relaPlt = i;
        if (relaPlt < 0) return (0, null);
        int dynsym = Link(relaPlt);
        if (dynsym <= 0 || dynsym >= shnum || Type(dynsym) != ShtDynsym) throw new InvalidDataException($"{path}: .rela.plt does not link to .dynsym");
        int dynstr = Link(dynsym);
        if (dynstr <= 0 || dynstr >= shnum) throw new InvalidDataException($"{path}: .dynsym has no string table");

        byte[] rela = Contents(relaPlt), symbols = Contents(dynsym), names = Contents(dynstr);
        byte[] wanted = System.Text.Encoding.ASCII.GetBytes(symbol);
        const uint RX8664JumpSlot = 7;
        for (int r = 0; r + 24 <= rela.Length; r += 24)
        {
            ulong info = BinaryPrimitives.ReadUInt64LittleEndian(rela.AsSpan(r + 8));
            if ((uint)info != RX8664JumpSlot) continue;
            long sym = (long)(info >> 32) * 24;
            if (sym + 24 > symbols.Length) throw new InvalidDataException($"{path}: relocation names symbol {info >> 32} beyond .dynsym");
            if (!NameIs(names, BinaryPrimitives.ReadUInt32LittleEndian(symbols.AsSpan((int)sym)), wanted)) continue;
            ulong value = BinaryPrimitives.ReadUInt64LittleEndian(symbols.AsSpan((int)sym + 8));
            return (value, BinaryPrimitives.ReadUInt64LittleEndian(rela.AsSpan(r)));
        }
        return (0, null);
    }

    private static void ReadAt(Microsoft.Win32.SafeHandles.SafeFileHandle file, long offset, Span<byte> into, string path)
    {
        int done = 0;
        while (done < into.Length)
        {
            int n = RandomAccess.Read(file, into[done..], offset + done);
            if (n <= 0) throw new InvalidDataException($"{path}: ends at byte {offset + done}, inside its ELF tables");
            done += n;
        }
    }

    /// <summary>Whether the NUL-terminated string at <paramref name="offset"/> of the table is <paramref name="name"/>.</summary>
    private static bool NameIs(byte[] table, uint offset, ReadOnlySpan<byte> name) =>
        offset + (long)name.Length < table.Length && table.AsSpan((int)offset, name.Length).SequenceEqual(name) && table[offset + name.Length] == 0;

    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 0x02, MapAnonymous = 0x20;

    /// <summary>A page holding <c>mov eax, 1; ret</c>, read-only and executable; kept for the process's lifetime.</summary>
    private static IntPtr ReturnOneStub()
    {
        IntPtr page = mmap(IntPtr.Zero, 4096, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (page == new IntPtr(-1)) return IntPtr.Zero;
        Marshal.Copy(new byte[] { 0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3 }, 0, page, 6);
        if (mprotect(page, 4096, ProtRead | ProtExec) != 0)
        {
            _ = munmap(page, 4096);
            return IntPtr.Zero;
        }
        return page;
    }

    private static bool WriteSlot(IntPtr slot, IntPtr target, bool writable)
    {
        IntPtr page = (IntPtr)((long)slot & ~4095L);
        if (!writable && mprotect(page, 4096, ProtRead | ProtWrite) != 0) return false;
        Marshal.WriteIntPtr(slot, target);   // one aligned 8-byte store: a concurrent caller sees the old or the new target
        if (!writable) _ = mprotect(page, 4096, ProtRead);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial IntPtr mmap(IntPtr addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int mprotect(IntPtr addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int munmap(IntPtr addr, nuint length);
}
