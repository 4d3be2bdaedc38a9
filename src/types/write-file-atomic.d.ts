// The part of write-file-atomic's API this pack uses (the package ships no types).
declare module 'write-file-atomic' {
  interface Options {
    encoding?: BufferEncoding;
    mode?: number;
    fsync?: boolean;
  }
  function writeFileAtomic(filename: string, data: string | Buffer, options?: Options): Promise<void>;
  namespace writeFileAtomic {
    function sync(filename: string, data: string | Buffer, options?: Options): void;
  }
  export = writeFileAtomic;
}
