// /compte: the wallet's home. Server-rendered; this only keeps it usable offline.
import { registerWorker, watchConnection } from "./offline.js";

registerWorker();
watchConnection();
