using System.Globalization;
using System.Text;

namespace CassaFS.PowerShell;

/// <summary>The -Encoding names PowerShell 7 accepts (utf8, utf8BOM, utf8NoBOM, ascii, unicode, bigendianunicode, utf32, latin1) or a code page number.</summary>
public static class TextEncodings
{
    /// <summary>The names -Encoding completes to.</summary>
    public static readonly IReadOnlyList<string> Names = ["ascii", "bigendianunicode", "bigendianutf32", "latin1", "unicode", "utf32", "utf8", "utf8BOM", "utf8NoBOM"];

    /// <summary>An -Encoding value as PowerShell binds it: a name, a code page number or an Encoding.</summary>
    public static Encoding From(object? value) => value switch
    {
        null => Parse(null),
        Encoding e => e,
        int codePage => Encoding.GetEncoding(codePage),
        _ => Parse(Convert.ToString(value, CultureInfo.InvariantCulture)),
    };

    public static Encoding Parse(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return new UTF8Encoding(false);
        return name.Trim().ToUpperInvariant() switch
        {
            "UTF8" or "UTF8NOBOM" or "DEFAULT" => new UTF8Encoding(false),
            "UTF8BOM" => new UTF8Encoding(true),
            "ASCII" => Encoding.ASCII,
            "UNICODE" or "UTF16" or "UTF-16" => new UnicodeEncoding(false, true),
            "BIGENDIANUNICODE" => new UnicodeEncoding(true, true),
            "UTF32" => new UTF32Encoding(false, true),
            "BIGENDIANUTF32" => new UTF32Encoding(true, true),
            "LATIN1" => Encoding.Latin1,
            _ when int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var codePage) => Encoding.GetEncoding(codePage),
            _ => TryByName(name),
        };
    }

    private static Encoding TryByName(string name)
    {
        try
        {
            return Encoding.GetEncoding(name);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Encoding '{name}' is not known: use utf8, utf8BOM, utf8NoBOM, ascii, unicode, bigendianunicode, utf32, latin1 or a code page number.", nameof(name), e);
        }
    }
}
