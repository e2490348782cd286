using System.Runtime.InteropServices;
using System.Text;

namespace DebertaSharp.IO;

/// <summary>
/// The one way this project writes an output file. A regular file (or a path that does not exist yet) is written to
/// a temporary file beside it and renamed over it only when complete, so a failure never leaves a partial or missing
/// file; the replaced file's permissions (and, where allowed, owner and group) carry over. A symbolic link is followed
/// to its final target, which is the file replaced (the link stays a link). Anything else that already exists there
/// (a character or block device such as <c>/dev/null</c>, a FIFO, a socket) is opened and written directly, as a shell
/// redirection would: renaming over it would destroy it. A folder is an error.
/// </summary>
internal static partial class SafeFile
{
    /// <summary>UTF-8 without a byte-order mark, as <see cref="File.WriteAllText(string, string?)"/> writes.</summary>
    internal static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte-order mark) to <paramref name="path"/>.</summary>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, Utf8NoBom, bufferSize: 1 << 16, leaveOpen: true);
            writer.Write(text);
        });
    }

    /// <summary>Writes UTF-8 text (no byte-order mark) through <paramref name="write"/>.</summary>
    public static void WriteText(string path, Action<TextWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, Utf8NoBom, bufferSize: 1 << 16, leaveOpen: true);
            write(writer);
        });
    }

    /// <summary>
    /// Writes <paramref name="path"/> with <paramref name="write"/>, which gets a stream positioned at the start of an
    /// empty file (or of the device). With <paramref name="flushToDisk"/> a regular file's bytes reach the disk before
    /// the rename.
    /// </summary>
    public static void Write(string path, Action<Stream> write, bool flushToDisk = false)
    {
        ArgumentNullException.ThrowIfNull(write);
        var target = Resolve(path);
        if (target.Direct)
        {
            // No rename: a device or FIFO is written as it is (a FIFO blocks until read); no truncation but of a
            // regular file reached through /proc (/dev/stdout redirected to a file), as open(path, "wb") would.
            var mode = target.Kind == Kind.Special ? FileMode.Open : FileMode.Create;
            using var direct = new FileStream(target.Path, mode, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1 << 16);
            write(direct);
            direct.Flush();
            return;
        }
        Replace(target, temp =>
        {
            using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
            write(stream);
            stream.Flush(flushToDisk);
        });
    }

    /// <summary>
    /// Writes <paramref name="path"/> through a callback that writes a whole file at the path it is given (a temporary
    /// file beside the final target, or the device itself for a special file) and may create it.
    /// </summary>
    public static void WriteViaPath(string path, Action<string> writeTo)
    {
        ArgumentNullException.ThrowIfNull(writeTo);
        var target = Resolve(path);
        if (target.Direct)
        {
            writeTo(target.Path);
            return;
        }
        Replace(target, writeTo);
    }

    /// <summary>What the final target of a path is.</summary>
    internal enum Kind
    {
        /// <summary>Nothing there yet.</summary>
        Missing,

        /// <summary>A regular file.</summary>
        Regular,

        /// <summary>A folder.</summary>
        Directory,

        /// <summary>A device, FIFO or socket: anything that is neither a regular file nor a folder.</summary>
        Special,
    }

    /// <summary>Where a write goes.</summary>
    /// <param name="Path">The path to open (<see cref="Direct"/>) or to rename over: the final target of a chain of links.</param>
    /// <param name="Kind">What is there now.</param>
    /// <param name="Direct">Open and write <see cref="Path"/> itself, no temporary file: a special file, or a file reached
    /// through /proc (<c>/dev/stdout</c>, <c>/proc/self/fd/N</c>), which names an open file rather than a place.</param>
    internal readonly record struct Target(string Path, Kind Kind, bool Direct);

    /// <summary>
    /// Where writing <paramref name="path"/> goes. Throws for a folder (or a link to one), and when the folder the
    /// file would be created in does not exist.
    /// </summary>
    internal static Target Resolve(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = System.IO.Path.GetFullPath(path);
        // The kind as the kernel sees it, through every link (including /proc's, which name no real path).
        Kind kind = KindOf(full);
        if (kind == Kind.Directory)
            throw new IOException($"'{path}' is a folder, not a file");
        if (kind == Kind.Special) return new Target(full, kind, Direct: true);

        // Follow the links one by one: the file replaced is the last one's target, in its own folder.
        string current = full;
        for (int hops = 0; ; hops++)
        {
            if (IsProc(current)) return new Target(full, kind, Direct: true);
            string? link = new FileInfo(current).LinkTarget;
            if (link is null) break;
            if (hops == 40) throw new IOException($"'{path}': too many levels of symbolic links");
            current = System.IO.Path.GetFullPath(link, System.IO.Path.GetDirectoryName(current)!);
        }
        string? dir = System.IO.Path.GetDirectoryName(current);
        if (kind == Kind.Missing && dir is not null && !System.IO.Directory.Exists(dir))
            throw new DirectoryNotFoundException(current == full
                ? $"cannot write '{path}': folder '{dir}' does not exist"
                : $"cannot write '{path}': it links to '{current}', whose folder does not exist");
        return new Target(current, kind, Direct: false);
    }

    private static bool IsProc(string path) =>
        OperatingSystem.IsLinux() && (path.StartsWith("/proc/", StringComparison.Ordinal) || path.StartsWith("/dev/fd/", StringComparison.Ordinal));

    /// <summary>The kind of file at <paramref name="path"/>, following symbolic links.</summary>
    internal static Kind KindOf(string path)
    {
        if (!OperatingSystem.IsWindows() && TryStat(path, out int mode, out _, out _, out bool missing))
        {
            if (missing) return Kind.Missing;
            return (mode & S_IFMT) switch
            {
                S_IFREG => Kind.Regular,
                S_IFDIR => Kind.Directory,
                _ => Kind.Special,
            };
        }
        if (System.IO.Directory.Exists(path)) return Kind.Directory;
        return File.Exists(path) ? Kind.Regular : Kind.Missing;
    }

    private static void Replace(Target target, Action<string> writeTemp)
    {
        string dir = System.IO.Path.GetDirectoryName(target.Path)!;
        string temp = System.IO.Path.Combine(dir, "." + System.IO.Path.GetFileName(target.Path) + ".tmp-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            writeTemp(temp);
            if (target.Kind == Kind.Regular) CopyOwnerAndMode(target.Path, temp);
            File.Move(temp, target.Path, overwrite: true);
        }
        finally
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Gives <paramref name="temp"/> the owner and group (where the process may) and the mode of <paramref name="existing"/>.</summary>
    private static void CopyOwnerAndMode(string existing, string temp)
    {
        if (OperatingSystem.IsWindows()) return;
        // Owner first: chown clears set-user-ID and set-group-ID bits, which the mode then restores.
        if (TryStat(existing, out _, out uint uid, out uint gid, out bool missing) && !missing
            && TryStat(temp, out _, out uint tempUid, out uint tempGid, out bool tempMissing) && !tempMissing
            && (uid != tempUid || gid != tempGid))
        {
            TryChown(temp, uid, gid);
        }
        File.SetUnixFileMode(temp, File.GetUnixFileMode(existing));
    }

    private static void TryChown(string path, uint uid, uint gid)
    {
        try
        {
            // Not allowed to give the file away (not root): keep what we may, the group, then give up quietly.
            if (Chown(path, uid, gid) != 0) _ = Chown(path, uint.MaxValue, gid);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    // .NET's own stat wrapper (libSystem.Native, which File.* uses): its FileStatus begins with Flags, Mode, Uid, Gid
    // on every platform and glibc version, unlike libc's struct stat. Mode carries the S_IF* type bits below.
    private const int S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000;
    private const int ENOENT = 2, ENOTDIR = 20;

    private static bool TryStat(string path, out int mode, out uint uid, out uint gid, out bool missing)
    {
        mode = 0;
        uid = gid = 0;
        missing = false;
        Span<byte> status = stackalloc byte[512];   // FileStatus is about 130 bytes; room to spare
        try
        {
            if (SystemNativeStat(path, ref MemoryMarshal.GetReference(status)) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is ENOENT or ENOTDIR)
                {
                    missing = true;
                    return true;
                }
                return false;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
        mode = MemoryMarshal.Read<int>(status[4..]);
        uid = MemoryMarshal.Read<uint>(status[8..]);
        gid = MemoryMarshal.Read<uint>(status[12..]);
        return true;
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SystemNativeStat(string path, ref byte status);

    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Chown(string path, uint owner, uint group);
}
